"""Reference distributions kept with a model, and the PSI that compares live data against them.

Numeric features are binned at the training data's deciles (open-ended outer bins), categorical
ones by their most frequent categories plus one bin for the rest. Monitoring later counts live
values into the same bins and computes the population stability index.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

OTHER = "__other__"
EPS = 1e-4


def numeric_reference(values: np.ndarray | pd.Series, bins: int = 10) -> dict[str, Any]:
    v = np.asarray(values, dtype=float)
    v = v[np.isfinite(v)]
    qs = np.linspace(0, 1, bins + 1)[1:-1]
    edges = [float(e) for e in np.unique(np.quantile(v, qs))] if len(v) else []
    return {"kind": "numeric", "edges": edges, "proportions": _numeric_props(v, edges)}


def _numeric_props(values: np.ndarray, edges: list[float]) -> list[float]:
    # bin i holds edges[i-1] < v <= edges[i]; first bin everything <= edges[0], last > edges[-1]
    idx = np.searchsorted(np.asarray(edges), values, side="left")
    counts = np.bincount(idx, minlength=len(edges) + 1)
    total = counts.sum()
    return [float(c / total) if total else 0.0 for c in counts]


def categorical_reference(values: pd.Series, top: int = 20) -> dict[str, Any]:
    shares = values.astype(str).value_counts(normalize=True)
    kept = shares.head(top)
    props = {str(k): float(v) for k, v in kept.items()}
    props[OTHER] = float(max(0.0, 1.0 - kept.sum()))
    return {"kind": "categorical", "proportions": props}


def reference_for(frame: pd.DataFrame, columns: list[str], categorical: set[str]) -> dict[str, Any]:
    return {
        c: categorical_reference(frame[c]) if c in categorical else numeric_reference(frame[c])
        for c in columns
    }


def proportions(reference: dict[str, Any], values: pd.Series | np.ndarray) -> list[float]:
    """Live values counted into a reference's bins (same order as its proportions)."""
    if reference["kind"] == "numeric":
        v = np.asarray(values, dtype=float)
        return _numeric_props(v[np.isfinite(v)], reference["edges"])
    keys = list(reference["proportions"])
    s = pd.Series(values).astype(str)
    s = s.where(s.isin(keys[:-1]), OTHER)
    shares = s.value_counts(normalize=True)
    return [float(shares.get(k, 0.0)) for k in keys]


def psi(expected: list[float], actual: list[float]) -> float:
    """Population stability index; empty bins are floored at EPS so the log stays finite."""
    e = np.maximum(np.asarray(expected, dtype=float), EPS)
    a = np.maximum(np.asarray(actual, dtype=float), EPS)
    return float(np.sum((a - e) * np.log(a / e)))
