"""``fraudops backtest``: replay a dataset version through a model and its decision policy.

Every payment of the dataset (optionally between two UTC dates) is scored from its stored
point-in-time features and decided with the model's thresholds (or ones given in a file), by the
rule the scoring service applies (models.metrics.decide); the dataset's labels say which were
fraud. Per UTC day and in total: payments, reviews, declines, frauds, frauds caught (reviewed or
declined), fraud amount saved (the amount of those), legitimate amount held (reviewed or declined
legitimate payments) and the alert budget used: flagged payments (review + decline, the count the
review threshold was chosen to keep within ``review_budget_per_day``) over that budget.
"""

from __future__ import annotations

import json
import math
from datetime import date
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from fraudops import datasets
from models import artifact
from models.metrics import DAY_S, day_index, decide
from models.registry import Registry, RegistryError
from models.training import FEATURES, TrainingError, check_dataset_contract

COLUMNS = ["timestamp", "is_fraud", "tx_amount"]
COUNTS = ("payments", "reviews", "declines", "frauds", "frauds_caught")
AMOUNTS = ("fraud_amount", "fraud_amount_saved", "legit_amount_held")


class BacktestError(RegistryError):
    """Bad input (thresholds file, dates, dataset): the message says what to fix."""


def read_thresholds(path: Path) -> dict[str, Any]:
    """A thresholds file: ``{"review": r, "decline": d | null, "review_budget_per_day": b?}``."""
    try:
        doc = json.loads(path.read_text())
    except OSError as exc:
        raise BacktestError(f"thresholds file {path}: cannot read it ({exc.strerror})") from exc
    except json.JSONDecodeError as exc:
        raise BacktestError(f"thresholds file {path}: not JSON ({exc})") from exc
    if not isinstance(doc, dict):
        raise BacktestError(f"thresholds file {path}: expected a JSON object with review/decline")
    unknown = sorted(set(doc) - {"review", "decline", "review_budget_per_day"})
    if unknown:
        raise BacktestError(f"thresholds file {path}: unknown key(s) {', '.join(unknown)}")

    def number(key: str, low: float, high: float) -> float:
        v = doc[key]
        ok = isinstance(v, (int, float)) and not isinstance(v, bool) and low <= v <= high
        if not ok or math.isnan(v):
            raise BacktestError(
                f"thresholds file {path}: {key} must be a number in [{low}, {high}]"
            )
        return float(v)

    if "review" not in doc:
        raise BacktestError(f"thresholds file {path}: review is required")
    out: dict[str, Any] = {"review": number("review", 0.0, 1.0), "decline": None}
    if doc.get("decline") is not None:
        out["decline"] = number("decline", out["review"], 1.0)
    if doc.get("review_budget_per_day") is not None:
        out["review_budget_per_day"] = number("review_budget_per_day", 1e-9, math.inf)
    return out


def _day(value: str | None, flag: str) -> int | None:
    if value is None:
        return None
    try:
        return (date.fromisoformat(value) - date(1970, 1, 1)).days
    except ValueError as exc:
        raise BacktestError(f"{flag} {value!r}: expected a date YYYY-MM-DD") from exc


def load_rows(
    root: Path, version: str, start: str | None, end: str | None, extra: tuple[str, ...] = ()
) -> pd.DataFrame:
    """The dataset's rows (features, labels, amounts) of the UTC days ``start`` .. ``end``, with
    the ``extra`` columns the dataset has (others are left out)."""
    try:
        manifest = datasets.read_manifest(root, version)
    except datasets.DatasetError as exc:
        raise BacktestError(str(exc)) from None
    try:
        check_dataset_contract(manifest)
    except TrainingError as exc:
        raise BacktestError(str(exc)) from None
    first, last = _day(start, "--from"), _day(end, "--to")
    if first is not None and last is not None and first > last:
        raise BacktestError(f"--from {start} is after --to {end}")
    have = set(manifest.get("columns") or ())
    columns = list(dict.fromkeys([*COLUMNS, *FEATURES, *(c for c in extra if c in have)]))
    frame = datasets.load_dataset(root, version, columns, ordered=False)  # order is irrelevant
    days = day_index(frame["timestamp"])
    keep = np.ones(len(frame), dtype=bool)
    if first is not None:
        keep &= days >= first
    if last is not None:
        keep &= days <= last
    if not keep.any():
        span = "empty" if frame.empty else f"{_date(days.min())} .. {_date(days.max())}"
        raise BacktestError(f"dataset {version} has no payment in the days asked (it spans {span})")
    return frame.loc[keep].reset_index(drop=True)


def _date(day: int) -> str:
    return pd.Timestamp(int(day) * DAY_S, unit="s").date().isoformat()


def replay(rows: pd.DataFrame, scores: np.ndarray, thresholds: dict[str, Any]) -> pd.DataFrame:
    """Per-day numbers of the decisions ``thresholds`` make on ``scores`` (one row a UTC day)."""
    d = decide(scores, thresholds["review"], thresholds.get("decline"))
    y = rows["is_fraud"].to_numpy().astype(bool)
    amount = rows["tx_amount"].to_numpy(dtype=float)
    days, day = np.unique(day_index(rows["timestamp"]), return_inverse=True)
    flagged = d > 0

    def per_day(mask: np.ndarray, weights: np.ndarray | None = None) -> np.ndarray:
        w = mask if weights is None else np.where(mask, weights, 0.0)
        return np.bincount(day, weights=w, minlength=len(days))

    out = pd.DataFrame(
        {
            "day": [_date(x) for x in days],
            "payments": np.bincount(day, minlength=len(days)),
            "reviews": per_day(d == 1),
            "declines": per_day(d == 2),
            "frauds": per_day(y),
            "frauds_caught": per_day(y & flagged),
            "fraud_amount": per_day(y, amount),
            "fraud_amount_saved": per_day(y & flagged, amount),
            "legit_amount_held": per_day(~y & flagged, amount),
        }
    )
    out[list(COUNTS)] = out[list(COUNTS)].astype(np.int64)
    budget = thresholds.get("review_budget_per_day")
    out["alert_budget_used"] = (out["reviews"] + out["declines"]) / budget if budget else np.nan
    return out


def totals(per_day: pd.DataFrame, budget: float | None) -> dict[str, Any]:
    out: dict[str, Any] = {"days": len(per_day)}
    out.update({k: int(per_day[k].sum()) for k in COUNTS})
    out.update({k: round(float(per_day[k].sum()), 2) for k in AMOUNTS})
    flagged = out["reviews"] + out["declines"]
    out["alert_budget_used"] = flagged / (budget * len(per_day)) if budget else None
    out["recall"] = out["frauds_caught"] / out["frauds"] if out["frauds"] else None
    return out


def seen_windows(manifest: dict[str, Any], first: str, last: str) -> list[str]:
    """The model's own windows (train, validation/tune, ...) that overlap the days replayed:
    numbers on those days flatter the model."""
    out = []
    for name, window in manifest.items():
        if isinstance(window, dict) and {"start", "end"} <= window.keys():
            start, end = str(window["start"])[:10], str(window["end"])[:10]
            if start <= last and end >= first:
                out.append(f"{name} {start} .. {end}")
    return out


def run_backtest(
    registry: Registry,
    model: str,
    datasets_root: Path,
    dataset: str,
    start: str | None = None,
    end: str | None = None,
    thresholds: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """The backtest's result: what was replayed, the policy, per-day rows and totals."""
    loaded = artifact.load(registry, model)
    policy = dict(thresholds) if thresholds is not None else loaded.thresholds
    if thresholds is not None and "review_budget_per_day" not in policy:
        policy["review_budget_per_day"] = loaded.thresholds.get("review_budget_per_day")
    rows = load_rows(datasets_root, dataset, start, end)
    per_day = replay(rows, loaded.score(rows), policy)
    return {
        "model": loaded.version,
        "dataset": dataset,
        "from": per_day["day"].iloc[0],
        "to": per_day["day"].iloc[-1],
        "thresholds": {
            "review": policy["review"],
            "decline": policy.get("decline"),
            "review_budget_per_day": policy.get("review_budget_per_day"),
            "source": "file" if thresholds is not None else "model manifest",
        },
        "totals": totals(per_day, policy.get("review_budget_per_day")),
        "seen_by_model": seen_windows(
            loaded.manifest, per_day["day"].iloc[0], per_day["day"].iloc[-1]
        ),
        "per_day": per_day.replace({np.nan: None}).to_dict(orient="records"),
    }
