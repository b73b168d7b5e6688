"""Train / tune / gate windows: the gate judges a candidate only on days it never saw.

A dataset version is cut by time into three disjoint windows, last days last:

    train  ...  [gap_days]  tune (validation_days)  gate (holdout_days)

``train`` fits the trees; ``tune`` decides early stopping, the class weights and the thresholds;
``gate`` is left out of both so the promotion gate can score candidate and production on days
neither the candidate's fitting nor its tuning looked at. The windows (dataset version, first and
last UTC day, rows) are stored in the model's manifest under ``windows``; the gate refuses a
holdout overlapping the candidate's ``train`` or ``tune`` window, naming the days.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

import numpy as np
import pandas as pd

from models.metrics import day_index

SEEN = ("train", "tune")  # the windows a candidate has looked at


def day_name(day: int) -> str:
    """A day number (days since 1970-01-01, UTC) as an ISO date."""
    return datetime.fromtimestamp(int(day) * 86_400, UTC).date().isoformat()


def day_number(name: str) -> int:
    return (date.fromisoformat(name) - date(1970, 1, 1)).days


def window(first: int, last: int, days: np.ndarray) -> dict[str, Any]:
    """One window as stored in the manifest: first and last day (inclusive) and its rows."""
    rows = int(np.sum((days >= first) & (days <= last)))
    return {"first_day": day_name(first), "last_day": day_name(last), "rows": rows}


def bounds(frame: pd.DataFrame, validation_days: int, gap_days: int, holdout_days: int
           ) -> dict[str, tuple[int, int]]:  # fmt: skip
    """(first, last) day number of each window; ``gate`` is absent when ``holdout_days`` is 0."""
    days = day_index(frame["timestamp"])
    first, last = int(days.min()), int(days.max())
    tune_last = last - holdout_days
    tune_first = tune_last - validation_days + 1
    out = {"train": (first, tune_first - gap_days - 1), "tune": (tune_first, tune_last)}
    if holdout_days:
        out["gate"] = (tune_last + 1, last)
    return out


def describe(frame: pd.DataFrame, spans: dict[str, tuple[int, int]]) -> dict[str, Any]:
    days = day_index(frame["timestamp"])
    return {name: window(a, b, days) for name, (a, b) in spans.items()}


def holdout_overlap(
    candidate: str, manifest: dict[str, Any], dataset: str, first: int, last: int
) -> str | None:
    """Why a holdout of days ``first..last`` cannot judge ``candidate`` fairly: it overlaps a
    window the model was trained or tuned on (compared by calendar day: later dataset versions
    repeat the earlier days). None when the holdout is unseen. KeyError when no windows are
    recorded."""
    windows = manifest["windows"]
    clashes = []
    for name in SEEN:
        w = windows.get(name)
        if not w:
            continue
        a, b = max(first, day_number(w["first_day"])), min(last, day_number(w["last_day"]))
        if a <= b:
            clashes.append(
                f"{name} window ({windows.get('dataset')} {w['first_day']}..{w['last_day']}) "
                f"on {day_name(a)}..{day_name(b)}"
            )
    if not clashes:
        return None
    return (
        f"holdout {dataset} {day_name(first)}..{day_name(last)} overlaps {candidate}'s "
        + " and ".join(clashes)
    )
