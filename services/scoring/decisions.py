"""Features, model, rules and decision for a group of payments: the JSON answer and its log entry.

The fraud team's rules (rules_holder.py) run after the model, on the payment's fields, its
features and the score; the model's thresholds are the last rule (fraudops/rules precedence). A
degraded answer (no profiles) is never an automatic decline, whatever a rule says: its features
are the contract's defaults, so a decline rule becomes a review.
"""

from __future__ import annotations

import collections
import time
from collections.abc import Sequence
from typing import Any

import orjson

from fraudops.features import feature_vector
from fraudops.profile_store.state import EntityState
from fraudops.rules import payment_values
from fraudops.schema import Txn
from models.runtime import DECLINE, REVIEW, ScoringModel, reasons
from services.common import scoring_log
from services.scoring.metrics import DECISIONS, RULE_HITS, SCORES, STAGE_SECONDS
from services.scoring.rules_holder import ActiveRules

_FEATURES = STAGE_SECONDS.labels("features")
_MODEL = STAGE_SECONDS.labels("model")
_RULES = STAGE_SECONDS.labels("rules")


def apply_rules(
    rules: ActiveRules,
    txs: Sequence[Txn],
    rows: Sequence[list[Any]],
    probs: Any,
    decisions: list[str],
    degraded: bool,
) -> tuple[list[str], list[tuple[str, ...]]]:
    """The final decisions and the rules that fired, per payment."""
    compiled, lists = rules.compiled, rules.lists
    final, fired = [], []
    hits: collections.Counter[str] = collections.Counter()
    for tx, row, p, decision in zip(txs, rows, probs, decisions, strict=True):
        values = payment_values(tx, row, float(p))  # the vector, by the contract's names
        outcome = compiled.decide(values, lists, decision)
        verdict = outcome.decision
        if degraded and verdict == DECLINE:
            verdict = REVIEW
        hits.update(outcome.fired)
        final.append(verdict)
        fired.append(outcome.fired)
    for name, n in hits.items():  # once per rule and group: a metric update costs microseconds
        RULE_HITS.labels(name).inc(n)
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
    _FEATURES.observe(after_features - started)
    probs, contribs = model.score(rows)
    after_model = time.perf_counter()
    _MODEL.observe(after_model - after_features)
    model_decisions = decisions = [model.decide(float(p), degraded) for p in probs]
    fired: list[tuple[str, ...]] = [()] * len(txs)
    if rules is not None:
        decisions, fired = apply_rules(rules, txs, rows, probs, decisions, degraded)
        _RULES.observe(time.perf_counter() - after_model)
    out = []
    for i, (tx, rid, row, p, c) in enumerate(
        zip(txs, request_ids, rows, probs, contribs, strict=True)
    ):
        score = float(p)
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
            "rules": list(fired[i]),
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
