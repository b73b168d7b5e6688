"""When is a retrain worth its cost? The automatic-retraining triggers, as pure decisions.

A retrain costs compute, a review of the candidate and the risk of a worse model, so it runs only
when a trigger fires: on demand, on schedule (the production model is old), on new data (enough
payments' labels changed since the production model's dataset), on drift (live features or scores
moved away from the model's reference) or on performance (labelled decisions show poor precision
or recall). Each trigger returns a record even when it does not fire, so a run record shows why a
retrain ran or did not. No I/O, no clock here: the caller gathers the inputs and passes ``now``.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any, Literal

import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict, Field

from models.reference import proportions, psi

SCORE_COLUMN = "score"
SCORE_REFERENCE = "__score__"
FLAGGED = frozenset({"review", "decline"})
DECISIONS = frozenset({"approve", *FLAGGED})
DAY_S = 86_400.0
Requested = Literal["auto", "on-demand"]


class TriggerConfig(BaseModel):
    """Thresholds of the automatic triggers; stored with each run record."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    max_model_age_days: float = Field(default=7.0, gt=0)
    min_new_labels: int = Field(default=200, ge=1)
    drift_psi: float = Field(default=0.25, gt=0)
    # fewer recent rows than this: PSI is too noisy to judge, drift does not fire
    drift_min_rows: int = Field(default=500, ge=1)
    min_precision: float = Field(default=0.5, ge=0, le=1)
    min_recall: float = Field(default=0.3, ge=0, le=1)
    # fewer labelled decisions than this: performance does not fire
    min_labelled: int = Field(default=50, ge=1)


@dataclass(frozen=True)
class TriggerResult:
    name: str  # "on_demand" | "schedule" | "new_labels" | "drift" | "performance"
    fired: bool
    value: float | None
    threshold: float | None
    detail: str
    # supporting numbers for the run record (per-column PSIs, counts behind precision and recall)
    extra: dict[str, Any] = field(default_factory=dict, hash=False)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def on_demand() -> TriggerResult:
    return TriggerResult("on_demand", True, None, None, "retrain requested on demand")


def schedule(production: dict[str, Any] | None, now: datetime, cfg: TriggerConfig) -> TriggerResult:
    limit = cfg.max_model_age_days
    if production is None:
        return TriggerResult("schedule", True, None, limit, "no production model")
    if now.tzinfo is None:
        raise ValueError("now must be timezone-aware")
    if "created_at" not in production:
        raise ValueError("production manifest has no 'created_at'")
    created = datetime.fromisoformat(str(production["created_at"]))
    if created.tzinfo is None:
        raise ValueError(f"created_at {production['created_at']!r} has no UTC offset")
    age = (now - created).total_seconds() / DAY_S
    fired = age > limit
    op = ">" if fired else "<="
    detail = f"production model is {age:.2f} days old {op} {limit:g}"
    return TriggerResult("schedule", fired, age, limit, detail, {"created_at": created.isoformat()})


def new_labels(count: int, cfg: TriggerConfig) -> TriggerResult:
    """``count``: transactions whose effective label changed since the production model's
    dataset (not label events: one payment's answer flipped 200 times is one at most)."""
    need = cfg.min_new_labels
    fired = count >= need
    op = ">=" if fired else "<"
    detail = (
        f"{count} transactions with a new or changed label since the production model's "
        f"dataset {op} {need}"
    )
    return TriggerResult("new_labels", fired, float(count), float(need), detail)


def psi_by_feature(reference: dict[str, dict[str, Any]], recent: pd.DataFrame) -> dict[str, float]:
    """PSI of every column of ``recent`` that has a reference ("score" against "__score__")."""
    out: dict[str, float] = {}
    for col in map(str, recent.columns):
        key = SCORE_REFERENCE if col == SCORE_COLUMN else col
        if col == SCORE_REFERENCE or key not in reference:
            continue
        values = recent[col].dropna()
        if not len(values):
            continue  # nothing to compare; an all-empty column is not evidence of drift
        ref = reference[key]
        out[col] = psi(_expected(ref), proportions(ref, values))
    return out


def _expected(ref: dict[str, Any]) -> list[float]:
    props = ref["proportions"]
    return [float(p) for p in (props.values() if isinstance(props, dict) else props)]


def _label(col: str) -> str:
    return "the model score" if col == SCORE_COLUMN else f"feature {col!r}"


def drift(
    reference: dict[str, dict[str, Any]], recent: pd.DataFrame, cfg: TriggerConfig
) -> TriggerResult:
    limit = cfg.drift_psi
    psis = psi_by_feature(reference, recent)
    rows = len(recent)
    extra: dict[str, Any] = {"rows": rows, "psi": psis}
    if not psis:
        detail = f"no column of the {rows} recent rows has a reference: drift not judged"
        return TriggerResult("drift", False, None, limit, detail, extra)
    worst = max(psis, key=lambda c: psis[c])
    top = psis[worst]
    if rows < cfg.drift_min_rows:
        detail = (
            f"only {rows} recent rows < {cfg.drift_min_rows} needed: not enough data, drift not "
            f"judged (max PSI {top:.3f} on {_label(worst)})"
        )
        return TriggerResult("drift", False, top, limit, detail, extra)
    fired = top > limit
    detail = f"max PSI {top:.3f} on {_label(worst)} {'>' if fired else '<='} {limit:g}"
    also = sorted((c for c in psis if psis[c] > limit and c != worst), key=lambda c: -psis[c])
    if also:
        detail += "; also above: " + ", ".join(f"{c!r} {psis[c]:.3f}" for c in also)
    return TriggerResult("drift", fired, top, limit, detail, extra)


def performance(decisions: pd.DataFrame, cfg: TriggerConfig) -> TriggerResult:
    n = len(decisions)
    decision = decisions["decision"].astype(str)
    unknown = set(decision.unique()) - DECISIONS
    if unknown:
        raise ValueError(f"unknown decisions {sorted(unknown)}; expected {sorted(DECISIONS)}")
    flagged = decision.isin(FLAGGED).to_numpy()
    fraud = decisions["is_fraud"].astype(int).to_numpy() > 0
    tp = int(np.sum(flagged & fraud))
    n_flagged, n_fraud = int(flagged.sum()), int(fraud.sum())
    precision = tp / n_flagged if n_flagged else None
    recall = tp / n_fraud if n_fraud else None
    extra: dict[str, Any] = {
        "labelled": n,
        "flagged": n_flagged,
        "frauds": n_fraud,
        "flagged_frauds": tp,
        "precision": precision,
        "recall": recall,
    }
    if n < cfg.min_labelled:
        detail = f"only {n} labelled decisions < {cfg.min_labelled} needed: performance not judged"
        return TriggerResult("performance", False, None, None, detail, extra)
    judged = [
        (name, value, limit)
        for name, value, limit in (
            ("precision", precision, cfg.min_precision),
            ("recall", recall, cfg.min_recall),
        )
        if value is not None
    ]
    if not judged:
        detail = f"nothing flagged and no frauds among {n} labelled decisions: nothing to judge"
        return TriggerResult("performance", False, None, None, detail, extra)
    parts = [f"{name} {v:.3f} {'<' if v < lim else '>='} {lim:g}" for name, v, lim in judged]
    if precision is None:
        parts.append("precision undefined (nothing flagged)")
    if recall is None:
        parts.append("recall undefined (no frauds)")
    # the metric with the smallest margin: the worst failure, or the closest to failing
    _, value, limit = min(judged, key=lambda j: j[1] - j[2])
    fired = value < limit
    detail = "; ".join(parts) + f" ({n} labelled, {n_flagged} flagged, {n_fraud} frauds)"
    return TriggerResult("performance", fired, value, limit, detail, extra)


def _skipped(name: str, why: str) -> TriggerResult:
    return TriggerResult(name, False, None, None, why)


def evaluate(
    requested: Requested,
    *,
    production: dict[str, Any] | None,
    now: datetime,
    new_label_count: int,
    reference: dict[str, dict[str, Any]] | None,
    recent: pd.DataFrame | None,
    decisions: pd.DataFrame | None,
    cfg: TriggerConfig,
) -> list[TriggerResult]:
    """Every trigger's result, fired or not; missing inputs give a non-firing record saying so."""
    if requested not in ("auto", "on-demand"):
        raise ValueError(f"requested must be 'auto' or 'on-demand', not {requested!r}")
    results = [on_demand()] if requested == "on-demand" else []
    results.append(schedule(production, now, cfg))
    results.append(new_labels(new_label_count, cfg))
    if reference is None:
        results.append(_skipped("drift", "no reference distributions: drift not judged"))
    elif recent is None:
        results.append(_skipped("drift", "no recent data: drift not judged"))
    else:
        results.append(drift(reference, recent, cfg))
    if decisions is None:
        results.append(_skipped("performance", "no labelled decisions: performance not judged"))
    else:
        results.append(performance(decisions, cfg))
    return results


def should_run(results: list[TriggerResult]) -> bool:
    return any(r.fired for r in results)
