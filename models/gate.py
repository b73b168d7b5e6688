"""The promotion gate: a candidate replaces production only if it is not worse on recent data.

Both models score the same holdout, the last ``holdout_days`` days of the most recent dataset
version (or the one named). The holdout must be days the candidate never saw: one overlapping the
train or tune window recorded in its manifest (models/windows.py) is an error naming the days, and
so is a candidate without recorded windows (trained before they were recorded) unless
``allow_unknown_windows``, which the decision log then says. The candidate is refused when its
feature contract differs from the running code's or its average precision is lower than
production's by more than ``tolerance``.
It is also refused when its recall differs between countries or channels by more than
``max_segment_gap`` (segments with at least ``min_segment_frauds`` frauds). Every decision,
promote or refuse, is recorded in the registry's decision log with its numbers.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from fraudops import datasets
from models import artifact
from models.metrics import day_index, evaluate
from models.registry import ContractMismatch, Registry, RegistryError
from models.segments import largest_gap, segment_metrics
from models.training import check_dataset_contract
from models.windows import day_name, holdout_overlap


class HoldoutError(RegistryError):
    """The holdout cannot judge the candidate fairly (seen days, or windows unknown)."""


@dataclass
class GateResult:
    promoted: bool
    version: str
    reason: str
    metrics: dict[str, Any]


def holdout(datasets_root: Path, version: str | None, days: int) -> tuple[str, pd.DataFrame]:
    version = version or datasets.latest_version(datasets_root)
    if version is None:
        raise RegistryError(f"no dataset version under {datasets_root} to evaluate on")
    check_dataset_contract(datasets.read_manifest(datasets_root, version))
    frame = datasets.load_dataset(datasets_root, version)
    day = day_index(frame["timestamp"])
    recent = frame.loc[day > day.max() - days].reset_index(drop=True)
    return version, recent


def check_unseen(
    version: str, manifest: dict[str, Any], dataset: str, rows: pd.DataFrame, allow_unknown: bool
) -> str:
    """Whether the candidate saw the holdout: "unseen", "unknown" (if allowed) or HoldoutError."""
    if "windows" not in manifest:
        if allow_unknown:
            return "unknown"
        raise HoldoutError(
            f"{version} records no train/tune windows (trained before they were recorded): "
            "the gate cannot tell whether it saw the holdout days; retrain it, or pass "
            "--allow-unknown-windows to gate it anyway"
        )
    day = day_index(rows["timestamp"])
    why = holdout_overlap(version, manifest, dataset, int(day.min()), int(day.max()))
    if why:
        raise HoldoutError(
            why + ": the candidate would be judged on days it was fitted or tuned on; gate it on "
            "later days (--holdout-dataset, --holdout-days) or retrain it with holdout_days"
        )
    return "unseen"


def production_view(
    registry: Registry, production: str, dataset: str, first: int, last: int
) -> str:
    """Whether production saw the holdout days: "unseen", "unknown" or the overlap."""
    manifest = registry.manifest(production)
    if "windows" not in manifest:
        return "unknown"
    return holdout_overlap(production, manifest, dataset, first, last) or "unseen"


def _summary(m: dict[str, Any]) -> dict[str, Any]:
    keys = ("average_precision", "auc_roc", "recall_at_1pct_fpr", "card_precision_at_100")
    return {k: m[k] for k in keys}


def promote(
    registry: Registry,
    candidate: str,
    datasets_root: Path,
    tolerance: float = 0.01,
    holdout_days: int = 7,
    dataset_version: str | None = None,
    reason: str = "promote",
    max_segment_gap: float | None = 0.5,
    min_segment_frauds: int = 30,
    allow_unknown_windows: bool = False,
) -> GateResult:
    version = registry.resolve(candidate)
    production = registry.aliases().get("production")
    if production == version:
        return GateResult(True, version, f"{version} is already production", {})
    try:
        cand = artifact.load(registry, version)
    except ContractMismatch as exc:
        registry.refuse(version, f"feature contract mismatch: {exc}")
        return GateResult(False, version, f"feature contract mismatch: {exc}", {})
    if production is None:
        registry.set_production(version, f"{reason}: first production model")
        return GateResult(True, version, "no production model yet", {})
    ds_version, rows = holdout(datasets_root, dataset_version, holdout_days)
    if not rows["is_fraud"].any():
        raise RegistryError(f"holdout of dataset {ds_version} has no fraud: cannot compare")
    seen = check_unseen(version, cand.manifest, ds_version, rows, allow_unknown_windows)
    day = day_index(rows["timestamp"])
    first, last = int(day.min()), int(day.max())
    info = {
        "dataset": ds_version,
        "days": holdout_days,
        "first_day": day_name(first),
        "last_day": day_name(last),
        "rows": len(rows),
        "frauds": int(rows["is_fraud"].sum()),
        "candidate_windows": seen,
        # production judged on days it was fitted on looks better than it is: the gate then
        # leans to keeping it (conservative, but the fraud team should know)
        "production_windows": production_view(registry, production, ds_version, first, last),
    }
    cand_scores = cand.score(rows)
    cand_m = _summary(evaluate(rows, cand_scores))
    try:
        prod_m = _summary(evaluate(rows, artifact.load(registry, production).score(rows)))
    except ContractMismatch as exc:  # production cannot run on this code any more
        prod_m = {"average_precision": None, "error": str(exc)}  # None: JSON has no NaN
    metrics = {"holdout": info, "candidate": cand_m, "production": prod_m, "tolerance": tolerance}
    cand_ap, prod_ap = cand_m["average_precision"], prod_m["average_precision"]
    if prod_ap is not None and cand_ap < prod_ap - tolerance:
        why = (
            f"average precision {cand_ap:.4f} is below production {production}'s "
            f"{prod_ap:.4f} by more than the tolerance {tolerance}"
        )
        registry.refuse(version, why, metrics)
        return GateResult(False, version, why, metrics)
    if max_segment_gap is not None:
        segments = segment_metrics(rows, cand_scores, cand.thresholds)
        gap, pair = largest_gap(segments, "recall", min_segment_frauds)
        metrics["segments"] = {
            "max_recall_gap": round(gap, 4),
            "between": pair,
            "limit": max_segment_gap,
            "min_frauds": min_segment_frauds,
        }
        if gap > max_segment_gap:
            why = (
                f"segment gap: {pair} (recall gap {gap:.3f} > {max_segment_gap}, segments "
                f"with >= {min_segment_frauds} frauds)"
            )
            registry.refuse(version, why, metrics)
            return GateResult(False, version, why, metrics)
    prod_text = "n/a" if prod_ap is None else f"{prod_ap:.4f}"
    why = f"{reason}: AP {cand_ap:.4f} vs production {production} {prod_text} (tol {tolerance})"
    registry.set_production(version, why, metrics)
    return GateResult(True, version, why, metrics)
