"""``fraudops bench scoring --rules``: what a 50-rule set costs the answers (A/B, one run).

The bench rule set (fraudops/rules/bench.py: every construct, 51 named lists, 2,000+ list values
in Redis) is published and, at one fixed rate, the server is driven alternately with no active
rule set and with it. ``rules_us_per_payment``: the server's own ``rules`` stage time (the
payment's rule values built, every rule evaluated, precedence applied) over the payments of the
"with" half, from /metrics; plus the p99 of each half (median of its rounds).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from fraudops.rules.bench import bench_lists, bench_ruleset
from fraudops.rules.lists import ListStore
from fraudops.rules.registry import RuleRegistry
from services.scoring.ab_bench import alternate, counter, median_of

STAGE = "fraudops_scoring_stage_seconds_sum"
PAYMENTS = "fraudops_scoring_decisions_total"


def rules_ab(
    base: str,
    root: Path,
    lists: ListStore,
    run: Callable[[], dict[str, Any]],
    rounds: int,
    n_rules: int = 50,
) -> dict[str, Any]:
    for name, values in bench_lists().items():
        kind = "customer" if name == "vip" else "terminal"
        lists.create(name, kind, "benchmark", "bench lists")
        lists.add(name, sorted(values), "benchmark", "bench lists")
    reg = RuleRegistry(root)
    version = reg.publish(bench_ruleset(n_rules), "benchmark", f"{n_rules}-rule bench set")
    spent = {"seconds": 0.0, "payments": 0.0}

    def measured() -> dict[str, Any]:
        before = counter(base, STAGE, 'stage="rules"'), counter(base, PAYMENTS)
        result = run()
        if reg.active():
            spent["seconds"] += counter(base, STAGE, 'stage="rules"') - before[0]
            spent["payments"] += counter(base, PAYMENTS) - before[1]
        return result

    try:
        halves = alternate(rounds, {
            "without": lambda: reg.deactivate("benchmark", "A/B: the model alone"),
            "with": lambda: reg.activate(version, "benchmark", "A/B: with the rule set"),
        }, measured)  # fmt: skip
    finally:
        reg.deactivate("benchmark", "bench over")
    without, with_ = median_of(halves["without"]), median_of(halves["with"])
    per = spent["seconds"] / spent["payments"] * 1e6 if spent["payments"] else None
    return {
        "rules": n_rules,
        "rounds": rounds,
        "rules_us_per_payment": round(per, 2) if per is not None else None,
        "p99_without_rules_ms": without,
        "p99_with_rules_ms": with_,
        "p99_ratio": with_ / without if without else None,
        "rps_without_rules": median_of(halves["without"], "rps"),
        "rps_with_rules": median_of(halves["with"], "rps"),
        "runs": halves,
    }
