"""``fraudops bench scoring --challenger``: what shadow scoring costs the answers (A/B, one run).

A second model is trained and registered (not production); at one fixed rate the server is driven
alternately without and with it as the ``challenger`` alias, ``rounds`` times each, so both halves
see the same machine, data and warm caches. The p99 of each half is the median of its rounds.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from services.scoring.ab_bench import alternate, counter, median_of


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
    scored = counter(base, "fraudops_scoring_shadow_scored_total")
    skipped = counter(base, "fraudops_scoring_shadow_skipped_total")
    try:
        halves = alternate(rounds, {
            "without": lambda: reg.set_challenger(None, "benchmark"),
            "with": lambda: reg.set_challenger(challenger, "benchmark"),
        }, run)  # fmt: skip
    finally:
        reg.set_challenger(None, "benchmark")
    without, with_ = median_of(halves["without"]), median_of(halves["with"])
    return {
        "challenger": challenger,
        "rounds": rounds,
        "p99_without_challenger_ms": without,
        "p99_with_challenger_ms": with_,
        "p99_ratio": with_ / without if without else None,
        "shadow_scored": counter(base, "fraudops_scoring_shadow_scored_total") - scored,
        "shadow_skipped": counter(base, "fraudops_scoring_shadow_skipped_total") - skipped,
        "runs": halves,
    }
