"""``fraudops benchmark handbook --data PATH``: the Handbook protocols, ours beside published."""

from __future__ import annotations

import argparse
import json
import sys

from fraudops import invalid_rows


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("what", choices=("handbook",))
    p.add_argument("--data", required=True, help="history in Handbook or canonical columns")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--json", action="store_true", help="print the result as JSON on stdout")
    invalid_rows.add_arguments(p, "<data>.quarantine.parquet, beside the input")


def run(args: argparse.Namespace) -> int:
    from models.benchmark import features_for_protocol, run_protocols, table

    say = lambda msg: print(msg, file=sys.stderr, flush=True)  # noqa: E731
    policy = invalid_rows.policy_from(args)
    try:
        frame = features_for_protocol(args.data, say, policy, args.quarantine)
    except (OSError, ValueError) as exc:  # HistoryValidationError, InvalidRowsRefused
        print(f"fraudops benchmark: {exc}", file=sys.stderr)
        return 1
    result = run_protocols(frame, args.seed, say)
    if args.json:
        print(json.dumps(result, indent=2, default=str))
    else:
        print(table(result))
    return 0
