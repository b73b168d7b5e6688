"""Features, model, rules and decision for a group of payments: the JSON answer and its log entry.

The fraud team's rules (rules_holder.py) run after the model, on the payment's fields, its
features and the score; the model's thresholds are the last rule (fraudops/rules precedence). A
degraded answer (no profiles) is never an automatic decline, whatever a rule says: its features
are the contract's defaults, so a decline rule becomes a review.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

import orjson

from fraudops.features import feature_vector
from fraudops.profile_store.state import EntityState
from fraudops.schema import Txn
from models.runtime import DECLINE, REVIEW, ScoringModel, reasons
from services.common import scoring_log
from services.scoring.metrics import DECISIONS, SCORES, STAGE_SECONDS
from services.scoring.rules_holder import ActiveRules

_FEATURES = STAGE_SECONDS.labels("features")
_MODEL = STAGE_SECONDS.labels("model")
_RULES = STAGE_SECONDS.labels("rules")


def apply_rules(
    rules: ActiveRules,
    txs: Sequence[Txn],
    rows: Sequence[list[Any]],
    scores: list[float],
    decisions: list[str],
    degraded: bool,
) -> tuple[list[str], list[list[str]]]:
    """The final decisions and the rules that fired, per payment."""
    decide, lists, hits = rules.compiled.decide_payment, rules.bound, rules.hits
    final, fired = [], []
    for tx, row, score, decision in zip(txs, rows, scores, decisions, strict=True):
        verdict, names = decide(tx, row, score, lists, decision)
        if degraded and verdict == DECLINE:
            verdict = REVIEW
        if names:
            hits.append(names)  # counted into Prometheus once per poll (RulesHolder.flush_hits)
        final.append(verdict)
        fired.append(names)
    return final, fired


def build_answers(
    model: ScoringModel,
    txs: Sequence[Txn],
    states: Sequence[tuple[EntityState, EntityState]],
    request_ids: Sequence[str],
    *,
    degraded: bool,
    with_log: bool,
    rules: ActiveRules | None = None,
) -> list[tuple[bytes, bytes]]:
    """Per payment: the JSON answer and its scoring-log entry (b"" when the log is off)."""
    started = time.perf_counter()
    now = time.time()
    rows = [feature_vector(tx, c, t) for tx, (c, t) in zip(txs, states, strict=True)]
    after_features = time.perf_counter()
    probs, contribs = model.score(rows)
    after_model = time.perf_counter()
    scores: list[float] = probs.tolist()
    model_decisions = decisions = [model.decide(p, degraded) for p in scores]
    fired: list[list[str]] = [[]] * len(txs)
    if rules is not None:
        before_rules = time.perf_counter()
        decisions, fired = apply_rules(rules, txs, rows, scores, decisions, degraded)
        _RULES.observe(time.perf_counter() - before_rules)
    # observed once every stage is timed: an observation is not the next stage's time
    _FEATURES.observe(after_features - started)
    _MODEL.observe(after_model - after_features)
    out = []
    for i, (tx, rid, row, score, c) in enumerate(
        zip(txs, request_ids, rows, scores, contribs, strict=True)
    ):
        decision = decisions[i]
        DECISIONS.labels(decision, "true" if degraded else "false").inc()
        SCORES.observe(score)
        top = [
            {"feature": r.feature, "value": r.value, "contribution": round(r.contribution, 6)}
            for r in reasons(row, c)
        ]
        answer = {
            "transaction_id": tx.transaction_id,
            "score": round(score, 6),
            "decision": decision,
            "model_version": model.version,
            "reasons": top,
            "degraded": degraded,
            "rules": fired[i],
        }
        entry = (
            scoring_log.encode(
                tx,
                row,
                score,
                decision,
                model.version,
                degraded,
                now,
                top,
                request_id=rid,
                rules=(rules.version, fired[i], model_decisions[i]) if rules is not None else None,
            )
            if with_log
            else b""
        )
        out.append((orjson.dumps(answer), entry))
    return out
