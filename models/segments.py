"""Does the model serve every segment? Precision and recall of flagged payments (review or
decline at the model's thresholds) by country and by channel, and the largest gap between
segments, which the promotion gate bounds (segments with too few frauds are not judged)."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from models.metrics import decide

SEGMENTS = ("country", "channel")


def segment_metrics(
    frame: pd.DataFrame,
    scores: np.ndarray,
    thresholds: dict[str, Any],
    by: tuple[str, ...] = SEGMENTS,
) -> dict[str, dict[str, dict[str, Any]]]:
    flagged = decide(scores, thresholds["review"], thresholds.get("decline")) > 0
    fraud = frame["is_fraud"].to_numpy() > 0
    out: dict[str, dict[str, dict[str, Any]]] = {}
    for column in by:
        if column not in frame.columns:
            continue
        groups: dict[str, dict[str, Any]] = {}
        for value, idx in frame.groupby(frame[column].astype(str)).indices.items():
            f, y = flagged[idx], fraud[idx]
            tp = int((f & y).sum())
            groups[str(value)] = {
                "payments": len(idx),
                "frauds": int(y.sum()),
                "flagged": int(f.sum()),
                "precision": tp / int(f.sum()) if f.any() else None,
                "recall": tp / int(y.sum()) if y.any() else None,
            }
        out[column] = groups
    return out


def largest_gap(
    segments: dict[str, dict[str, dict[str, Any]]], metric: str, min_frauds: int
) -> tuple[float, str]:
    """(gap, readable pair) of ``metric`` between judged segments of one column."""
    best, why = 0.0, "no segment pair with enough frauds"
    for column, groups in segments.items():
        judged = {
            v: g[metric]
            for v, g in groups.items()
            if g["frauds"] >= min_frauds and g[metric] is not None
        }
        if len(judged) < 2:
            continue
        hi, lo = max(judged, key=judged.__getitem__), min(judged, key=judged.__getitem__)
        gap = judged[hi] - judged[lo]
        if gap > best:
            best = gap
            why = f"{metric} {column}={hi} {judged[hi]:.3f} vs {column}={lo} {judged[lo]:.3f}"
    return best, why
