"""``fraudops backfill``: every profile as of a cut-off into Redis (idempotent)."""

from __future__ import annotations

import argparse
import sys
import time

from beam_pipelines.commands import epoch
from beam_pipelines.options import add_runner_arguments, pipeline_session
from fraudops import invalid_rows
from fraudops.profile_store.commands import StoreConfig
from fraudops.settings import CoreSettings

PASSTHROUGH = True


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--history", required=True, help="file or glob: Parquet/CSV, canonical or Handbook"
    )
    p.add_argument("--labels", help="label events (transaction_id, label, arrived_at)")
    p.add_argument("--label-delay-days", type=int, default=7,
                   help="without --labels: is_fraud is known N days later")  # fmt: skip
    p.add_argument("--as-of", help="RFC 3339 cut-off (default: now)")
    p.add_argument("--redis-url", help="default: REDIS_URL")
    p.add_argument("--database-url", help="feedback database, for the erasure ledger "
                   "(default: DATABASE_URL)")  # fmt: skip
    invalid_rows.add_arguments(p, "<history>.quarantine.parquet, beside a one-file --history")
    add_runner_arguments(p)


def run(args: argparse.Namespace) -> int:
    from beam_pipelines.backfill import BackfillJob, run_backfill
    from beam_pipelines.commands import erasure_ledger
    from fraudops.pseudonyms import PseudonymKeyError

    settings = CoreSettings()
    config = StoreConfig.from_settings(settings)
    try:
        as_of = epoch(args.as_of)
    except ValueError as exc:
        print(f"fraudops backfill: --as-of: {exc}", file=sys.stderr)
        return 2
    policy = invalid_rows.policy_from(args)
    try:
        erased = erasure_ledger(args.database_url)
        quarantine = args.quarantine
        if policy.mode == "quarantine" and quarantine is None:
            quarantine = invalid_rows.beside(args.history)
    except (PseudonymKeyError, ValueError) as exc:
        print(f"fraudops backfill: {exc}", file=sys.stderr)
        return 2
    job = BackfillJob(
        history=args.history,
        redis_url=args.redis_url or settings.redis_url,
        redis_cluster=settings.redis_cluster,
        config=config,
        as_of=as_of,
        labels=args.labels,
        label_delay_days=args.label_delay_days,
        shards=args.shards,
        erased=erased,
        invalid=policy,
        quarantine=quarantine,
    )
    started = time.perf_counter()
    try:
        with pipeline_session(args, args.passthrough) as options:
            c = run_backfill(job, options)
    except invalid_rows.InvalidRowsRefused as exc:  # the Redis writes waited: nothing written
        print(f"fraudops backfill: {exc}", file=sys.stderr)
        return 1
    wall = time.perf_counter() - started
    print(
        f"backfill as of {args.as_of or 'now'}: {c.get('history.rows_read', 0):,} rows read, "
        f"{c.get('history.rows_invalid', 0):,} invalid, "
        f"{c.get('backfill.customer_profiles_written', 0):,} customers and "
        f"{c.get('backfill.terminal_profiles_written', 0):,} terminals written in {wall:.1f} s"
    )
    quarantined = c.get("history.rows_invalid", 0) + c.get("labels.rows_invalid", 0)
    if quarantined:
        print(f"{quarantined:,} invalid rows quarantined, with their reasons, in {quarantine}")
    return 0
