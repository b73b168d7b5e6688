"""``fraudops models shadow-report [--json]``: champion vs challenger, labelled shadow payments."""

from __future__ import annotations

import argparse
import json
import math
import sys
from typing import Any

from models.commands import add_registry_argument


def add_parser(sub: Any) -> None:
    p = sub.add_parser("shadow-report", help="champion vs challenger on labelled shadow payments")
    p.add_argument("--version", default="challenger", help="challenger version (default: alias)")
    p.add_argument("--database-url", help="feedback database (default: env DATABASE_URL)")
    p.add_argument("--resamples", type=int, default=1000, help="bootstrap resamples (seeded)")
    p.add_argument("--json", action="store_true")
    add_registry_argument(p)


def database_url(given: str | None) -> str:
    from fraudops.settings import CoreSettings

    return given or CoreSettings().database_url


def run(args: argparse.Namespace) -> int:
    from models.registry import Registry, RegistryError
    from models.shadow import shadow_report

    try:
        report = shadow_report(
            Registry(args.registry), database_url(args.database_url), args.version, args.resamples
        )
    except RegistryError as exc:
        print(f"fraudops models shadow-report: {exc}", file=sys.stderr)
        return 1
    if args.json:
        print(json.dumps(strict(report), indent=2))
        return 0
    ci = report["intervals_95"]

    def line(name: str, key: str) -> str:
        interval = ci.get(key)
        span = f"  [{interval[0]:.4f}, {interval[1]:.4f}]" if interval else ""
        return f"{name:<28}{report[key]:.4f}{span}"  # nan: no fraud among them

    money = report["money"]
    print(f"challenger {report['challenger']} vs champion {', '.join(report['champions']) or '-'}: "
          f"{report['labelled']} labelled shadow payments, {report['frauds']} frauds")  # fmt: skip
    for name, key in [("AP champion", "champion_ap"), ("AP challenger", "challenger_ap"),
                      ("AP difference", "ap_difference"),
                      (f"recall@{report['alert_budget']} champion", "champion_recall_at_budget"),
                      (f"recall@{report['alert_budget']} challenger",
                       "challenger_recall_at_budget"),
                      ("agreement", "agreement")]:  # fmt: skip
        print(line(name, key))
    for who in ("champion", "challenger"):
        m = money[who]
        print(f"{who:<11} fraud caught {m['fraud_amount_caught']:.2f}  "
              f"legit held {m['legit_amount_held']:.2f}")  # fmt: skip
    return 0


def strict(value: Any) -> Any:
    """NaN (no fraud labelled yet) as null: JSON readers other than Python's refuse NaN."""
    if isinstance(value, float) and math.isnan(value):
        return None
    if isinstance(value, dict):
        return {k: strict(v) for k, v in value.items()}
    if isinstance(value, list):
        return [strict(v) for v in value]
    return value
