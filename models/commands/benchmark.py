"""``fraudops benchmark handbook --data PATH``: the Handbook protocols, ours beside published."""

from __future__ import annotations

import argparse
import json
import sys


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("what", choices=("handbook",))
    p.add_argument("--data", required=True, help="history in Handbook or canonical columns")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--json", action="store_true", help="print the result as JSON on stdout")


def run(args: argparse.Namespace) -> int:
    from fraudops.readers import HistoryValidationError
    from models.benchmark import features_for_protocol, run_protocols, table

    say = lambda msg: print(msg, file=sys.stderr, flush=True)  # noqa: E731
    try:
        frame = features_for_protocol(args.data, say)
    except (OSError, HistoryValidationError) as exc:
        print(f"fraudops benchmark: {exc}", file=sys.stderr)
        return 1
    result = run_protocols(frame, args.seed, say)
    if args.json:
        print(json.dumps(result, indent=2, default=str))
    else:
        print(table(result))
    return 0
