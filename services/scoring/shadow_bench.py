"""``fraudops bench scoring --challenger``: what shadow scoring costs the answers (A/B, one run).

A second model is trained and registered (not production); at one fixed rate the server is driven
alternately without and with it as the ``challenger`` alias, ``rounds`` times each, so both halves
see the same machine, data and warm caches. The p99 of each half is the median of its rounds.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx

SWAP_WAIT_S = 2.5  # the workers poll the aliases every second, then load the model


def _counter(base: str, name: str) -> float:
    text = httpx.get(base + "/metrics", timeout=5).text
    return sum(float(line.split()[-1]) for line in text.splitlines()
               if line.startswith(name + " ") or line.startswith(name + "{"))  # fmt: skip


def shadow_ab(
    base: str,
    registry: Path,
    challenger: str,
    run: Callable[[], dict[str, Any]],
    rounds: int,
) -> dict[str, Any]:
    """Interleaved runs without / with the challenger; p99s and the shadow counters."""
    from models.registry import Registry

    reg = Registry(registry)
    halves: dict[str, list[dict[str, Any]]] = {"without": [], "with": []}
    scored = _counter(base, "fraudops_scoring_shadow_scored_total")
    skipped = _counter(base, "fraudops_scoring_shadow_skipped_total")
    try:
        for _ in range(rounds):
            for half, version in (("without", None), ("with", challenger)):
                reg.set_challenger(version, "benchmark")
                time.sleep(SWAP_WAIT_S)
                halves[half].append(run())
    finally:
        reg.set_challenger(None, "benchmark")
    without = statistics.median(r["p99_ms"] for r in halves["without"])
    with_ = statistics.median(r["p99_ms"] for r in halves["with"])
    return {
        "challenger": challenger,
        "rounds": rounds,
        "p99_without_challenger_ms": without,
        "p99_with_challenger_ms": with_,
        "p99_ratio": with_ / without if without else None,
        "shadow_scored": _counter(base, "fraudops_scoring_shadow_scored_total") - scored,
        "shadow_skipped": _counter(base, "fraudops_scoring_shadow_skipped_total") - skipped,
        "runs": halves,
    }
