"""``fraudops rules bench``: the per-payment cost of a compiled rule set (one generated
function), the number the scoring hot path pays after the model. Synthetic payments; no I/O in
the timed loop."""

from __future__ import annotations

import random
import time
from typing import Any

from fraudops.features import FEATURE_NAMES
from fraudops.rules.check import NAMES
from fraudops.rules.ruleset import load_rules
from fraudops.rules.values import payment_values
from fraudops.schema import Txn

TEMPLATES = (
    "rule big_{i}: review if amount > {a} and customer_nb_tx_1day >= {k}",
    "rule bad_terminal_{i}: decline if terminal_id in @compromised_{i}",
    "rule vip_{i}: allow if customer_id in @vip and score < 0.{k}",
    'rule geo_{i}: review if country in ("RU", "NG", "KP") and channel == "ecommerce" '
    "and amount > {a}",
    "rule spike_{i}: review if customer_amount_24h / customer_avg_amount_30day > {k} "
    "and not customer_new_terminal == 0",
    "rule burst_{i}: decline if customer_count_10min >= {k} and (tx_amount < 2 or "
    'mcc in ("5967", "7995"))',
    "rule night_{i}: review if hour <= 5 and terminal_risk_7day > 0.{k} and score >= 0.3",
)


def bench_ruleset(n_rules: int = 50) -> str:
    """A rule set of ``n_rules`` rules mixing every construct (lists, arithmetic, not, or)."""
    lines = []
    for i in range(n_rules):
        template = TEMPLATES[i % len(TEMPLATES)]
        # constants vary per rule: no two rules of the set test the same condition
        lines.append(template.format(i=i, a=500 + 37 * i, k=2 + (i + i // 7) % 7))
    return "\n".join(lines) + "\n"


def bench_lists() -> dict[str, frozenset[str]]:
    """The named lists the bench rule set reads (terminals t*, customers c*)."""
    return {
        **{f"compromised_{i}": frozenset(f"t{j}" for j in range(i, 10000, 97)) for i in range(50)},
        "vip": frozenset(f"c{j}" for j in range(0, 5000, 50)),
    }


def _payment(rng: random.Random) -> tuple[Txn, list[Any], float]:
    """A payment as the scoring hot path gives it to the rules: the Txn, its feature vector
    (contract order) and the score."""
    txn = Txn(
        f"tx{rng.randrange(10**9)}",
        1_700_000_000 + rng.randrange(86_400 * 7),
        f"c{rng.randrange(5000)}",
        f"t{rng.randrange(10000)}",
        rng.expovariate(1 / 80),
        "EUR",
        rng.choice(("5411", "5967", None)),
        rng.choice(("FR", "DE", "NG", None)),
        rng.choice(("ecommerce", "card_present", None)),
    )
    vector = [
        rng.expovariate(1 / 50) if NAMES[name] == "number" else rng.choice(("a", "b"))
        for name in FEATURE_NAMES
    ]
    return txn, vector, rng.random()


def bench_rules(n_rules: int = 50, payments: int = 20_000, seed: int = 0) -> dict[str, Any]:
    """Microseconds per payment for the hot path's ``decide_payment`` over ``n_rules`` rules
    (best of 3 passes; CPU time, and wall time, which a loaded machine inflates), and for
    building the mapping the backtest-side ``decide`` reads (payment_values). A warm loop: the
    scoring server, between HTTP, Redis and the model, pays more (``fraudops bench scoring``)."""
    rng = random.Random(seed)
    compiled = load_rules(bench_ruleset(n_rules))
    bound = compiled.bind(bench_lists())
    decide = compiled.decide_payment
    rows = [_payment(rng) for _ in range(payments)]
    best, best_cpu, fired = float("inf"), float("inf"), 0
    for _ in range(3):
        start, start_cpu = time.perf_counter(), time.process_time()
        fired = 0
        for txn, vector, score in rows:
            fired += len(decide(txn, vector, score, bound, "approve")[1])
        best = min(best, time.perf_counter() - start)
        best_cpu = min(best_cpu, time.process_time() - start_cpu)
    txn, vector, score = rows[0]
    start_cpu = time.process_time()
    for _ in range(payments):
        payment_values(txn, vector, score)
    values_us = (time.process_time() - start_cpu) / payments * 1e6
    return {
        "rules": n_rules,
        "payments": payments,
        "features": len(FEATURE_NAMES),
        "rules_us_per_payment": round(best_cpu / payments * 1e6, 2),  # CPU time
        "rules_wall_us_per_payment": round(best / payments * 1e6, 2),  # with the machine's load
        "rules_fired_per_payment": round(fired / payments, 3),
        "values_us_per_payment": round(values_us, 2),  # payment_values (not on the hot path)
    }
