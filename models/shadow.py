"""Champion versus challenger on live traffic: the shadow payments whose labels have arrived.

Each scored payment in the feedback database carries the production decision (the champion's)
and, when a challenger was shadow-scoring, the challenger's score and decision
(``services/scoring/shadow.py``). While a rule set was active, the champion model's own decision
is ``model_decision`` (``decision`` is then the final one, the rules applied): models are
compared on their own decisions. On the labelled ones this compares:

- average precision of each score;
- recall at the alert budget: the budget is the number of payments the champion flagged (review
  or decline); each model flags its own top-scored payments of that number, so both are judged
  at the same alert volume;
- the money view of each model's own decisions: fraud amount caught (flagged), legit amount held;
- agreement: the share of payments where both decided the same;
- bootstrap 95 % intervals (``resamples`` seeded draws of the labelled payments with replacement)
  for each number and for the challenger-minus-champion differences.

``shadow_gate`` promotes the challenger when at least ``min_labelled`` such payments exist and the
interval of its AP difference lies above ``-tolerance``.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import sqlalchemy as sa

from fraudops.erasure_ledger import normalise_url
from models.gate import GateResult
from models.registry import Registry

RESAMPLES = 1000
SEED = 0


class ShadowGateRefused(RuntimeError):
    """Too few labelled shadow payments to judge the challenger on."""


def labelled_pairs(database_url: str, challenger: str) -> pd.DataFrame:
    """Labelled payments the challenger shadow-scored: amount, champion and challenger verdicts.

    Plain SQL on the feedback service's tables (``services/feedback/db.py``; models sit below the
    services and do not import them)."""
    query = sa.text(
        "SELECT s.amount, s.model_version, s.score, COALESCE(s.model_decision, s.decision), "
        "s.shadow_score, s.shadow_decision, l.label FROM scored_transactions s "
        "JOIN labels l ON l.transaction_id = s.transaction_id "
        "WHERE s.shadow_model_version = :challenger AND s.shadow_score IS NOT NULL "
        "ORDER BY s.transaction_id"
    )
    engine = sa.create_engine(normalise_url(database_url))
    try:
        with engine.connect() as conn:
            rows = [tuple(r) for r in conn.execute(query, {"challenger": challenger})]
    finally:
        engine.dispose()
    cols = ["amount", "champion", "score", "decision", "shadow_score", "shadow_decision", "label"]
    frame = pd.DataFrame(rows, columns=cols)
    frame["amount"] = frame["amount"].astype(float)
    frame["is_fraud"] = (frame["label"] == "fraud").astype(int)
    return frame


def average_precision(labels: np.ndarray, scores: np.ndarray) -> float:
    """sklearn's average precision (ties form one step), in numpy: the bootstrap calls it 2,000
    times and sklearn's checks cost a millisecond a call."""
    total = labels.sum()
    if not total:
        return float("nan")
    order = np.argsort(-scores, kind="mergesort")
    s, y = scores[order], labels[order]
    last = np.r_[np.flatnonzero(np.diff(s)), len(s) - 1]  # the last row of each distinct score
    tps = np.cumsum(y)[last]
    precision = tps / (last + 1)
    recall_steps = np.diff(np.r_[0, tps]) / total
    return float((recall_steps * precision).sum())


def recall_at(labels: np.ndarray, scores: np.ndarray, budget: int) -> float:
    """Share of the frauds among the ``budget`` highest scores (ties broken by position)."""
    frauds = labels.sum()
    if not frauds:
        return float("nan")
    top = np.argsort(-scores, kind="stable")[:budget]
    return float(labels[top].sum() / frauds)


def _numbers(y: np.ndarray, champ: np.ndarray, chall: np.ndarray, agree: np.ndarray,
             budget: int) -> dict[str, float]:  # fmt: skip
    return {
        "champion_ap": average_precision(y, champ),
        "challenger_ap": average_precision(y, chall),
        "champion_recall_at_budget": recall_at(y, champ, budget),
        "challenger_recall_at_budget": recall_at(y, chall, budget),
        "agreement": float(agree.mean()) if len(agree) else float("nan"),
    }


def _money(frame: pd.DataFrame, decisions: pd.Series) -> dict[str, float]:
    flagged = (decisions != "approve").to_numpy()
    fraud = frame["is_fraud"].to_numpy().astype(bool)
    amount = frame["amount"].to_numpy()
    return {
        "fraud_amount_caught": float(amount[fraud & flagged].sum()),
        "legit_amount_held": float(amount[~fraud & flagged].sum()),
    }


def compare(frame: pd.DataFrame, resamples: int = RESAMPLES, seed: int = SEED) -> dict[str, Any]:
    """The report's numbers for ``labelled_pairs`` rows (see the module docstring)."""
    y = frame["is_fraud"].to_numpy()
    champ, chall = frame["score"].to_numpy(float), frame["shadow_score"].to_numpy(float)
    agree = (frame["decision"] == frame["shadow_decision"]).to_numpy()
    budget = int((frame["decision"] != "approve").sum())
    point = _numbers(y, champ, chall, agree, budget)
    point["ap_difference"] = point["challenger_ap"] - point["champion_ap"]
    point["recall_difference"] = (
        point["challenger_recall_at_budget"] - point["champion_recall_at_budget"]
    )
    draws: dict[str, list[float]] = {k: [] for k in point}
    rng = np.random.default_rng(seed)
    n = len(frame)
    for _ in range(resamples if n else 0):
        i = rng.integers(0, n, n)
        got = _numbers(y[i], champ[i], chall[i], agree[i], budget)
        got["ap_difference"] = got["challenger_ap"] - got["champion_ap"]
        got["recall_difference"] = (
            got["challenger_recall_at_budget"] - got["champion_recall_at_budget"]
        )
        for k, v in got.items():
            draws[k].append(v)
    intervals = {
        k: [float(np.nanpercentile(v, 2.5)), float(np.nanpercentile(v, 97.5))]
        if v and not np.isnan(v).all() else None
        for k, v in draws.items()
    }  # fmt: skip
    return {
        "labelled": n,
        "frauds": int(y.sum()),
        "champions": sorted(set(frame["champion"])),
        "alert_budget": budget,
        **point,
        "money": {
            "champion": _money(frame, frame["decision"]),
            "challenger": _money(frame, frame["shadow_decision"]),
        },
        "intervals_95": intervals,
        "resamples": resamples,
        "seed": seed,
    }


def shadow_report(registry: Registry, database_url: str, version: str = "challenger",
                  resamples: int = RESAMPLES) -> dict[str, Any]:  # fmt: skip
    challenger = registry.resolve(version)
    report = compare(labelled_pairs(database_url, challenger), resamples)
    return {"challenger": challenger, **report}


def shadow_gate(registry: Registry, database_url: str, version: str, min_labelled: int,
                tolerance: float, reason: str = "promote") -> GateResult:  # fmt: skip
    """Judge the challenger on its labelled shadow payments and promote or refuse it (recorded);
    ShadowGateRefused below ``min_labelled`` of them (nothing recorded: evidence still coming)."""
    report = shadow_report(registry, database_url, version)
    n = report["labelled"]
    if n < min_labelled:
        raise ShadowGateRefused(
            f"{report['challenger']} has {n} labelled shadow payment(s); the shadow gate needs "
            f"at least {min_labelled} (--min-shadow-labelled, "
            "env FRAUDOPS_SHADOW_GATE_MIN_LABELLED)"
        )
    low = (report["intervals_95"]["ap_difference"] or [float("nan")])[0]
    ok = bool(low >= -tolerance)
    why = (
        f"{reason}: shadow AP {report['challenger_ap']:.4f} vs champion "
        f"{report['champion_ap']:.4f} on "
        f"{n} labelled payments, difference 95% interval from {low:+.4f} "
        f"({'within' if ok else 'below'} -{tolerance})"
    )
    challenger = report["challenger"]
    if ok:
        registry.set_production(challenger, why, report)  # clears the challenger alias
    else:
        registry.refuse(challenger, why, report)
    return GateResult(ok, challenger, why, report)
