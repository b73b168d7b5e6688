"""Choosing the review and decline thresholds on validation data.

``review``: the lowest score threshold whose flagged payments per day stay within the fraud team's
review budget. ``decline``: the lowest threshold at which the payments it would decline were fraud
at least ``decline_precision`` of the time (with at least ``min_support`` declines behind the
number); when no threshold reaches that, the model never declines on its own (``None``).
Scores at or above ``decline`` are declined, at or above ``review`` held for review.
"""

from __future__ import annotations

from typing import Any

import numpy as np


def review_threshold(scores: np.ndarray, days: int, budget_per_day: float) -> float:
    """Smallest threshold flagging at most ``budget_per_day * days`` payments."""
    s = np.sort(np.asarray(scores, dtype=float))[::-1]
    allowed = int(budget_per_day * max(days, 1))
    if allowed <= 0 or len(s) == 0:
        return 1.0
    if allowed >= len(s):
        return float(s[-1])
    # the allowed-th highest score; if the next one ties it, step above the tie
    cut = s[allowed - 1]
    if s[allowed] == cut:
        return float(np.nextafter(cut, np.inf))
    return float(cut)


def decline_threshold(
    scores: np.ndarray, labels: np.ndarray, target_precision: float, min_support: int
) -> float | None:
    """Smallest threshold whose declines reach ``target_precision``; None if none does."""
    s = np.asarray(scores, dtype=float)
    y = np.asarray(labels).astype(int)
    order = np.argsort(-s, kind="stable")
    s, y = s[order], y[order]
    # candidate cut points: the last position of each distinct score (ties go together)
    last_of_value = np.r_[s[1:] != s[:-1], True]
    hits = np.cumsum(y)[last_of_value]
    count = (np.arange(len(s)) + 1)[last_of_value]
    values = s[last_of_value]
    ok = (count >= min_support) & (hits >= target_precision * count)
    if not ok.any():
        return None
    return float(values[np.flatnonzero(ok)[-1]])


def choose_thresholds(
    scores: np.ndarray,
    labels: np.ndarray,
    days: int,
    budget_per_day: float,
    decline_precision: float,
    min_support: int = 10,
) -> dict[str, Any]:
    review = review_threshold(scores, days, budget_per_day)
    decline = decline_threshold(scores, labels, decline_precision, min_support)
    if decline is not None and decline < review:
        # decline is a subset of the flagged payments: the review budget caps it too
        decline = review
    return {
        "review": review,
        "decline": decline,
        "rule": "decline if score >= decline (null: never); review if score >= review",
        "review_budget_per_day": budget_per_day,
        "decline_precision_target": decline_precision,
        "chosen_on": {"rows": len(scores), "days": days, "frauds": int(np.sum(labels))},
    }
