"""Interleaved A/B runs against one running scoring server (the shadow and the rules benches):
each half switched on in turn, ``rounds`` times, so both see the same machine, data and caches."""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from typing import Any

import httpx

SWAP_WAIT_S = 2.5  # the workers poll the registries every second, then load and compile


def counter(base: str, name: str, labels: str = "") -> float:
    """The sum of a metric's samples (over labels, and over workers as /metrics aggregates them);
    ``labels``: only samples whose label text contains it."""
    text = httpx.get(base + "/metrics", timeout=5).text
    return sum(float(line.split()[-1]) for line in text.splitlines()
               if (line.startswith(name + " ") or line.startswith(name + "{"))
               and labels in line)  # fmt: skip


def alternate(
    rounds: int, halves: dict[str, Callable[[], None]], run: Callable[[], dict[str, Any]]
) -> dict[str, list[dict[str, Any]]]:
    """Each half's runs: its switch called, the workers given time to pick it up, one run."""
    out: dict[str, list[dict[str, Any]]] = {half: [] for half in halves}
    for _ in range(rounds):
        for half, switch in halves.items():
            switch()
            time.sleep(SWAP_WAIT_S)
            out[half].append(run())
    return out


def median_of(runs: list[dict[str, Any]], field: str = "p99_ms") -> float:
    """One half's figure: the median of its rounds."""
    return float(statistics.median(r[field] for r in runs))
