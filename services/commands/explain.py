"""``fraudops explain TX``: the decision audit of one transaction."""

from __future__ import annotations

import argparse
import json
import sys

from models.commands import add_registry_argument


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("transaction_id")
    p.add_argument("--database-url", help="feedback database (default: DATABASE_URL)")
    p.add_argument("--json", action="store_true")
    add_registry_argument(p)


def run(args: argparse.Namespace) -> int:
    from fraudops.settings import CoreSettings
    from services.feedback.audit import NotScored, explain_transaction, render

    url = args.database_url or CoreSettings().database_url
    try:
        audit = explain_transaction(url, args.registry, args.transaction_id)
    except NotScored:
        print(
            f"fraudops explain: {args.transaction_id!r} is not in the scoring log", file=sys.stderr
        )
        return 1
    print(json.dumps(audit, indent=2, default=str) if args.json else render(audit))
    return 0
