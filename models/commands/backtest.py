"""``fraudops backtest --model mN --dataset vK``: replay a dataset through a model's policy."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from models.commands import add_datasets_argument, add_registry_argument

LINE = "{day:<10} {payments:>9} {reviews:>8} {declines:>8} {frauds:>7} {frauds_caught:>7} "


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--model", required=True, help="model version or alias (production, ...)")
    p.add_argument("--dataset", required=True, help="dataset version to replay (vK)")
    p.add_argument("--from", dest="start", metavar="DATE", help="first UTC day (YYYY-MM-DD)")
    p.add_argument("--to", dest="end", metavar="DATE", help="last UTC day (YYYY-MM-DD)")
    p.add_argument(
        "--thresholds",
        type=Path,
        metavar="FILE",
        help='JSON {"review": r, "decline": d|null, "review_budget_per_day": b} '
        "(default: the model's own)",
    )
    add_registry_argument(p)
    add_datasets_argument(p)
    p.add_argument(
        "--out", type=Path, help="HTML directory (default: <registry>/<model>/backtest-<dataset>)"
    )
    p.add_argument("--json", action="store_true", help="print the result as JSON")


def _print(result: dict[str, object]) -> None:
    t = result["totals"]
    assert isinstance(t, dict)
    print(
        f"backtest of {result['model']} on {result['dataset']} "
        f"({result['from']} .. {result['to']}, {t['days']} days)"
    )
    head = dict(day="day", payments="payments", reviews="reviews", declines="declines",
                frauds="frauds", frauds_caught="caught")  # fmt: skip
    print(LINE.format(**head) + f"{'saved':>12} {'legit held':>12} {'budget':>7}")
    for row in [*result["per_day"], {**t, "day": "total"}]:  # type: ignore[misc]
        used = row["alert_budget_used"]
        print(
            LINE.format(**row)
            + f"{row['fraud_amount_saved']:>12,.2f} {row['legit_amount_held']:>12,.2f} "
            + (f"{used:>7.0%}" if used is not None else f"{'-':>7}")
        )


def run(args: argparse.Namespace) -> int:
    from fraudops.datasets import DatasetError
    from models.backtest import read_thresholds, run_backtest
    from models.backtest_page import write_backtest_page
    from models.registry import Registry, RegistryError

    reg = Registry(args.registry)
    try:
        thresholds = read_thresholds(args.thresholds) if args.thresholds else None
        version = reg.resolve(args.model)
        result = run_backtest(
            reg, version, args.datasets, args.dataset, args.start, args.end, thresholds
        )
    except (RegistryError, DatasetError) as exc:
        print(f"fraudops backtest: {exc}", file=sys.stderr)
        return 2
    out = args.out or reg.root / version / f"backtest-{args.dataset}"
    result["html"] = str(write_backtest_page(result, out))
    if args.json:
        print(json.dumps(result, indent=2))
    else:
        _print(result)
        for window in result["seen_by_model"]:
            print(f"note: the model's {window} overlaps these days (its numbers are flattered)")
        print(result["html"])
    return 0
