"""``fraudops rules backtest``: a rule set over a dataset version's rows, vectorised, beside the
model's own decisions on the same rows.

The rows come as for the model backtest (models.backtest.load_rows: stored point-in-time
features, labels); the model scores them; the rules are evaluated by the vectorised compiler of
the same syntax tree the scoring workers compile to one function (fraudops.rules), so the numbers
are those the hot path would have produced. Per rule: hits (total, per day), precision (fraud
share of the hits), frauds and fraud amount hit, legitimate payments hit, and the overlap with
the model (hits the model flagged too; what the rule adds: hits the model approved). For the
set: the final decisions (precedence: docs/rules.md) against the model's alone.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from fraudops.rules import CompiledRules, dataset_columns
from fraudops.rules.values import absent_fields
from models import artifact
from models.backtest import BacktestError, load_rows
from models.metrics import DAY_S, day_index, decide
from models.registry import Registry

EXTRA = ("customer_id", "terminal_id", "currency")


def _date(day: int) -> str:
    return pd.Timestamp(int(day) * DAY_S, unit="s").date().isoformat()


class _Rows:
    """Labels, amounts and days of the replayed rows: what every statistic is weighed by."""

    def __init__(self, rows: pd.DataFrame, model_decisions: np.ndarray) -> None:
        self.fraud = rows["is_fraud"].to_numpy().astype(bool)
        self.amount = rows["tx_amount"].to_numpy(dtype=float)
        self.days, self.day = np.unique(day_index(rows["timestamp"]), return_inverse=True)
        self.model_flagged = model_decisions > 0

    def per_day(self, mask: np.ndarray) -> np.ndarray:
        return np.bincount(self.day[mask], minlength=len(self.days))

    def amount_of(self, mask: np.ndarray) -> float:
        return round(float(np.sum(self.amount, where=mask)), 2)

    def hit_stats(self, hits: np.ndarray) -> dict[str, Any]:
        """What a mask of payments holds: counts, precision, money, overlap with the model."""
        frauds, legit = hits & self.fraud, hits & ~self.fraud
        new_frauds, new_legit = frauds & ~self.model_flagged, legit & ~self.model_flagged
        n_hits, n_frauds = int(np.count_nonzero(hits)), int(np.count_nonzero(frauds))
        daily = self.per_day(hits)
        return {
            "hits": n_hits,
            "hits_per_day": round(n_hits / len(self.days), 2),
            "max_hits_per_day": int(daily.max(initial=0)),
            "hits_by_day": daily.tolist(),  # aligned with per_day's days
            "precision": round(n_frauds / n_hits, 4) if n_hits else None,
            "frauds": n_frauds,
            "fraud_amount": self.amount_of(frauds),
            "legit": n_hits - n_frauds,
            "legit_amount": self.amount_of(legit),
            "model_flagged_too": int(np.count_nonzero(hits & self.model_flagged)),
            "adds_frauds": int(np.count_nonzero(new_frauds)),
            "adds_fraud_amount": self.amount_of(new_frauds),
            "adds_legit": int(np.count_nonzero(new_legit)),
        }

    def decision_stats(self, decisions: np.ndarray) -> dict[str, Any]:
        flagged = decisions > 0
        caught, held = flagged & self.fraud, flagged & ~self.fraud
        return {
            "reviews": int(np.count_nonzero(decisions == 1)),
            "declines": int(np.count_nonzero(decisions == 2)),
            "frauds_caught": int(np.count_nonzero(caught)),
            "fraud_amount_caught": self.amount_of(caught),
            "legit_held": int(np.count_nonzero(held)),
            "legit_amount_held": self.amount_of(held),
        }


def run_rules_backtest(
    compiled: CompiledRules,
    label: str,
    datasets_root: Path,
    dataset: str,
    registry: Registry | None = None,
    model: str | None = None,
    lists: dict[str, frozenset[str]] | None = None,
    start: str | None = None,
    end: str | None = None,
) -> dict[str, Any]:
    """The backtest's result (JSON-ready): per rule, for the set, per day, and timings."""
    lists = lists or {}
    uses_score = "score" in compiled.ruleset.names_used()
    if model is None and uses_score:
        raise BacktestError("the rules read score: give a model (--model mN or production)")
    t0 = time.perf_counter()
    rows = load_rows(datasets_root, dataset, start, end, EXTRA)
    t1 = time.perf_counter()
    scores, model_decisions, model_version = None, np.zeros(len(rows), dtype=np.int64), None
    if model is not None and registry is not None:
        loaded = artifact.load(registry, model)
        scores = loaded.score(rows)
        th = loaded.thresholds
        model_decisions = decide(scores, th["review"], th.get("decline"))
        model_version = loaded.version
    t2 = time.perf_counter()
    fired = compiled.fired_frame(dataset_columns(rows, scores), lists)
    decisions = compiled.decide_frame(fired, model_decisions)
    t3 = time.perf_counter()
    stats = _Rows(rows, model_decisions)
    per_rule = [
        {"rule": name, "action": action, **stats.hit_stats(fired[:, j])}
        for j, (name, action) in enumerate(zip(compiled.names, compiled.actions, strict=True))
    ]
    any_hit: np.ndarray = np.asarray(fired.any(axis=1))
    final, alone = stats.decision_stats(decisions), stats.decision_stats(model_decisions)
    released = (model_decisions > 0) & (decisions == 0)
    per_day = pd.DataFrame(
        {
            "day": [_date(d) for d in stats.days],
            "payments": np.bincount(stats.day, minlength=len(stats.days)),
            "rule_hits": stats.per_day(any_hit),
            "reviews": stats.per_day(decisions == 1),
            "declines": stats.per_day(decisions == 2),
            "frauds": stats.per_day(stats.fraud),
            "frauds_caught": stats.per_day((decisions > 0) & stats.fraud),
            "model_frauds_caught": stats.per_day((model_decisions > 0) & stats.fraud),
        }
    )
    t4 = time.perf_counter()
    return {
        "rules": label,
        "dataset": dataset,
        "model": model_version,
        "from": per_day["day"].iloc[0],
        "to": per_day["day"].iloc[-1],
        "days": len(stats.days),
        "payments": len(rows),
        "frauds": int(stats.fraud.sum()),
        "lists": {
            "given": sorted(lists),
            "missing": sorted(compiled.ruleset.list_names() - set(lists)),
        },
        "absent_fields": absent_fields(rows),
        "set": {
            **stats.hit_stats(any_hit),
            "decisions": final,
            "model_alone": alone,
            "frauds_added": int(((decisions > 0) & (model_decisions == 0) & stats.fraud).sum()),
            "frauds_released": int((released & stats.fraud).sum()),
            "legit_released": int((released & ~stats.fraud).sum()),
        },
        "per_rule": per_rule,
        "per_day": per_day.to_dict(orient="records"),
        "timing_s": {
            "load": round(t1 - t0, 3),
            "score": round(t2 - t1, 3),
            "rules": round(t3 - t2, 3),
            "statistics": round(t4 - t3, 3),
        },
    }
