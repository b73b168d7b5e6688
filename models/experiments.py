"""Experiment tracking: every training run, with what it was given and what it cost.

One JSON line per run in ``<registry>/experiments.jsonl`` (append-only, fsynced): the config,
the dataset version and hash, wall and CPU time, peak memory, the final validation metrics, the
chosen thresholds and the model version; the per-iteration learning curves are kept with the
model (``curves.json``). ``fraudops experiments list`` and ``compare A B`` read them.
"""

from __future__ import annotations

import resource
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from fraudops import versioned

EXPERIMENTS = "experiments.jsonl"
CURVES = "curves.json"
KEY_METRICS = ("average_precision", "auc_roc", "card_precision_at_100", "recall_at_1pct_fpr")


@contextmanager
def measured() -> Iterator[dict[str, float]]:
    """Wall time, CPU time (this process and its children) and peak RSS of the block."""
    out: dict[str, float] = {}
    wall, cpu = time.perf_counter(), _cpu()
    try:
        yield out
    finally:
        out["wall_s"] = round(time.perf_counter() - wall, 2)
        out["cpu_s"] = round(_cpu() - cpu, 2)
        out["peak_rss_mb"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)


def _cpu() -> float:
    s, c = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return s.ru_utime + s.ru_stime + c.ru_utime + c.ru_stime


def record(registry_root: Path, entry: dict[str, Any]) -> None:
    versioned.append_jsonl(registry_root / EXPERIMENTS, entry)


def runs(registry_root: Path) -> list[dict[str, Any]]:
    return versioned.read_jsonl(registry_root / EXPERIMENTS)


def find(registry_root: Path, ref: str) -> dict[str, Any]:
    for run in runs(registry_root):
        if ref in (run["run"], run["model_version"]):
            return run
    raise KeyError(f"no experiment {ref!r} in {registry_root / EXPERIMENTS}")


def flatten(d: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """{"a": {"b": 1}} -> {"a.b": 1}"""
    out: dict[str, Any] = {}
    for k, v in d.items():
        if isinstance(v, dict):
            out |= flatten(v, f"{prefix}{k}.")
        else:
            out[f"{prefix}{k}"] = v
    return out


def compare(a: dict[str, Any], b: dict[str, Any]) -> list[tuple[str, Any, Any, str]]:
    """Rows (field, a, b, difference) for the metrics, costs, and every config or dataset
    field that differs."""
    rows = []
    for k in KEY_METRICS:
        va, vb = a["metrics"].get(k), b["metrics"].get(k)
        rows.append((k, va, vb, f"{vb - va:+.4f}" if None not in (va, vb) else ""))
    for k in ("wall_s", "cpu_s", "peak_rss_mb", "best_iteration"):
        va, vb = a.get(k), b.get(k)
        rows.append((k, va, vb, f"{vb / va:.2f}x" if va and vb else ""))
    fa, fb = flatten({"config": a["config"], "dataset": a["dataset"]}), flatten(
        {"config": b["config"], "dataset": b["dataset"]})  # fmt: skip
    for k in sorted(set(fa) | set(fb)):
        if fa.get(k) != fb.get(k):
            rows.append((k, fa.get(k), fb.get(k), "differs"))
    return rows
