"""``fraudops erase --customer ID``: the right to erasure (services.compliance.erasure)."""

from __future__ import annotations

import argparse
import getpass
import json
import sys
from pathlib import Path
from typing import Any

from fraudops.settings import PathSettings


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--customer", required=True, help="the customer id to erase")
    p.add_argument("--reason", default="right to erasure request", help="e.g. the ticket id")
    p.add_argument("--actor", default=None, help="who asked (default: the OS user)")
    p.add_argument("--database-url", help="feedback database (default: DATABASE_URL)")
    p.add_argument("--alerts-database-url", help="alerts database, if not the feedback database's")
    p.add_argument("--redis-url", help="default: REDIS_URL")
    p.add_argument("--datasets", type=Path, default=PathSettings().dataset_dir,
                   help="dataset versions to check for rows left in immutable files")  # fmt: skip
    p.add_argument("--settle-s", type=float, default=2.0,
                   help="wait before the second pass over streams and SQL")  # fmt: skip
    p.add_argument("--json", action="store_true")


def run(args: argparse.Namespace) -> int:
    from fraudops import redis_clients
    from fraudops.pseudonyms import PseudonymKeyError, check_key
    from fraudops.settings import CoreSettings, secret
    from services.alerts.db import upgrade as upgrade_alerts
    from services.common.db import make_engine, session_factory, utcnow
    from services.compliance.erasure import Stores, erase_customer, find_in_datasets
    from services.feedback.db import upgrade as upgrade_feedback

    core = CoreSettings()
    if not args.customer.strip():
        print("fraudops erase: --customer is empty", file=sys.stderr)
        return 2
    try:
        key = check_key(secret(core.erasure_key))
    except PseudonymKeyError as exc:
        print(f"fraudops erase: {exc}", file=sys.stderr)
        return 2
    feedback_engine = make_engine(args.database_url or core.database_url)
    alerts_engine = make_engine(args.alerts_database_url) if args.alerts_database_url else None
    client = redis_clients.sync_client(args.redis_url or core.redis_url, core.redis_cluster,
                                       socket_timeout=10)  # fmt: skip
    try:
        upgrade_feedback(feedback_engine)
        upgrade_alerts(alerts_engine or feedback_engine)
        stores = Stores(
            client,
            core.key_prefix,
            session_factory(feedback_engine),
            session_factory(alerts_engine) if alerts_engine else None,
            core.log_shards,
        )
        actor = args.actor or getpass.getuser()
        result = erase_customer(stores, args.customer, key, actor, args.reason, utcnow,
                                args.settle_s)  # fmt: skip
        left = find_in_datasets(args.datasets, args.customer)
    finally:
        client.close()
        feedback_engine.dispose()
        if alerts_engine is not None:
            alerts_engine.dispose()
    report: dict[str, Any] = {
        "erasure_id": result.erasure_id,
        "subject": result.subject,
        "removed": dict(sorted(result.removed.items())),
        "immutable_files_with_rows": left,
    }
    if args.json:
        print(json.dumps(report, indent=2))
        return 0
    removed = ", ".join(f"{n} {k}" for k, n in report["removed"].items() if n) or "nothing found"
    print(f"erasure #{result.erasure_id} (subject {result.subject[:16]}...): removed {removed}")
    print("later dataset versions and backfills leave this customer out")
    for path, rows in left.items():
        print(f"  still in immutable {args.datasets / path}: {rows} rows (delete the version "
              "under the retention policy)")  # fmt: skip
    return 0
