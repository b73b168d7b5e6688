"""``fraudops keys new --name N --scopes score``: a new API key and its hashed config entry."""

from __future__ import annotations

import argparse
import json
import sys


def add_arguments(p: argparse.ArgumentParser) -> None:
    sub = p.add_subparsers(dest="action", required=True)
    new = sub.add_parser("new", help="print a new key (once) and the entry to configure")
    new.add_argument("--name", required=True, help="the client, e.g. the payment system")
    new.add_argument("--scopes", default="score", help="comma-separated, e.g. score,feedback")
    h = sub.add_parser("hash", help="the configured form (sha256) of an existing key (stdin)")
    h.set_defaults(stdin=True)


def run(args: argparse.Namespace) -> int:
    from services.common.auth import hash_key, new_key

    if args.action == "hash":
        print(hash_key(sys.stdin.readline().strip()))
        return 0
    key, entry = new_key(args.name, [s for s in args.scopes.split(",") if s])
    print(f"key (give it to {args.name}; it is not stored anywhere): {key}", file=sys.stderr)
    print(json.dumps(entry))
    return 0
