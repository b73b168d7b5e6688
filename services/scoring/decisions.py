"""Features, model and decision for a group of payments: the JSON answer and its log entry."""

from __future__ import annotations

import time
from collections.abc import Sequence

import orjson

from fraudops.features import feature_vector
from fraudops.profile_store.state import EntityState
from fraudops.schema import Txn
from models.runtime import ScoringModel, reasons
from services.common import scoring_log
from services.scoring.metrics import DECISIONS, SCORES, STAGE_SECONDS

_FEATURES = STAGE_SECONDS.labels("features")
_MODEL = STAGE_SECONDS.labels("model")


def build_answers(
    model: ScoringModel,
    txs: Sequence[Txn],
    states: Sequence[tuple[EntityState, EntityState]],
    request_ids: Sequence[str],
    *,
    degraded: bool,
    with_log: bool,
) -> list[tuple[bytes, bytes]]:
    """Per payment: the JSON answer and its scoring-log entry (b"" when the log is off)."""
    started = time.perf_counter()
    now = time.time()
    rows = [feature_vector(tx, c, t) for tx, (c, t) in zip(txs, states, strict=True)]
    after_features = time.perf_counter()
    _FEATURES.observe(after_features - started)
    probs, contribs = model.score(rows)
    _MODEL.observe(time.perf_counter() - after_features)
    out = []
    for tx, rid, row, p, c in zip(txs, request_ids, rows, probs, contribs, strict=True):
        score = float(p)
        decision = model.decide(score, degraded)
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
        }
        entry = (
            scoring_log.encode(
                tx, row, score, decision, model.version, degraded, now, top, request_id=rid
            )
            if with_log
            else b""
        )
        out.append((orjson.dumps(answer), entry))
    return out
