"""``fraudops dataset build``: a new immutable, point-in-time dataset version."""

from __future__ import annotations

import argparse
import json
import os
import shlex
import sys
from dataclasses import replace
from pathlib import Path

from beam_pipelines.commands import epoch
from beam_pipelines.options import add_runner_arguments, pipeline_options
from fraudops import invalid_rows

PASSTHROUGH = True
DATASETS = Path(os.environ.get("FRAUDOPS_DATASET_DIR", "data/datasets"))


def add_arguments(p: argparse.ArgumentParser) -> None:
    sub = p.add_subparsers(dest="action", required=True)
    b = sub.add_parser("build", help="build the next dataset version")
    b.add_argument("--history", action="append", help="file or glob: Parquet/CSV (repeatable)")
    b.add_argument(
        "--labels",
        action="append",
        help="label events (transaction_id, label, arrived_at), repeatable",
    )
    b.add_argument(
        "--label-delay-days",
        type=int,
        help="the history's is_fraud is known N days later (default 7 without --labels)",
    )
    b.add_argument(
        "--feedback",
        action="store_true",
        help="the next version: the parent's inputs + the feedback database's scoring "
        "log and labels (DATABASE_URL or --database-url)",
    )
    b.add_argument(
        "--database-url",
        help="feedback database: labels and the erasure ledger (default: DATABASE_URL)",
    )
    b.add_argument("--label-cutoff", help="RFC 3339: labels arriving later are ignored")
    b.add_argument("--out", type=Path, default=DATASETS)
    b.add_argument("--parent", help="parent version (default: the latest under --out)")
    b.add_argument("--dead-letter", help="path prefix: every rejected record as JSON lines "
                   "(invalid rows, duplicate ids, labels of unknown transactions)")  # fmt: skip
    where = "quarantine.parquet in the new version; --feedback: the parent's policy unless given"
    invalid_rows.add_arguments(b, where, path_option=False)
    b.add_argument("--json", action="store_true", help="print the manifest as JSON")
    add_runner_arguments(b)
    v = sub.add_parser("validate", help="the data validation gate on a version (exit 1: invalid)")
    v.add_argument("version")
    v.add_argument("--out", type=Path, default=DATASETS)
    v.add_argument("--expectations", type=Path, help="TOML (default: models/expectations.toml)")
    v.add_argument("--json", action="store_true")
    show = sub.add_parser("show", help="print a version's manifest")
    show.add_argument("version")
    show.add_argument("--out", type=Path, default=DATASETS)
    sub.add_parser("list", help="list versions").add_argument("--out", type=Path, default=DATASETS)


def run(args: argparse.Namespace) -> int:
    from fraudops import datasets

    if args.action == "list":
        for _, path in datasets.version_dirs(args.out):
            m = datasets.read_manifest(args.out, path.name)
            print(f"{path.name:<6} {m['rows']:>10,} rows  {m['frauds'] or 0:>8,} frauds  "
                  f"parent={m['parent']}  {m['created_at']}")  # fmt: skip
        return 0
    if args.action == "validate":
        from models import data_gate

        try:
            exp = data_gate.load_expectations(args.expectations)
            report = data_gate.validate_version(args.out, args.version, exp)
        except (datasets.DatasetError, OSError, ValueError) as exc:
            print(f"fraudops dataset validate: {exc}", file=sys.stderr)
            return 2
        print(json.dumps(report, indent=2) if args.json else data_gate.explain(report))
        return 0 if report["valid"] else 1
    if args.action == "show":
        try:
            print(json.dumps(datasets.read_manifest(args.out, args.version), indent=2))
        except datasets.DatasetError as exc:
            print(f"fraudops dataset: {exc}", file=sys.stderr)
            return 1
        return 0
    from beam_pipelines.commands import erasure_ledger
    from beam_pipelines.dataset import DatasetJob, run_dataset
    from fraudops.pseudonyms import PseudonymKeyError

    try:
        cutoff = epoch(args.label_cutoff) if args.label_cutoff else None
    except ValueError as exc:
        print(f"fraudops dataset build: --label-cutoff: {exc}", file=sys.stderr)
        return 2
    command = shlex.join(["fraudops", *sys.argv[1:]])
    try:
        if args.feedback:
            from retraining.next_dataset import next_version_job

            job = next_version_job(args.out, args.parent, args.database_url, cutoff, args.shards,
                                   command, args.dead_letter)  # fmt: skip
        else:
            if not args.history:
                print("fraudops dataset build: --history (or --feedback) is required",
                      file=sys.stderr)  # fmt: skip
                return 2
            delay = args.label_delay_days
            job = DatasetJob(
                history=args.history[0] if len(args.history) == 1 else tuple(args.history),
                out=args.out,
                labels=None
                if not args.labels
                else (args.labels[0] if len(args.labels) == 1 else tuple(args.labels)),
                label_delay_days="auto" if delay is None else delay,
                label_cutoff=cutoff,
                shards=args.shards,
                parent=args.parent,
                command=command,
                dead_letter=args.dead_letter,
                erased=erasure_ledger(args.database_url),
            )
        job = replace(job, invalid=invalid_rows.policy_from(args, job.invalid))
        version, manifest, created = run_dataset(job, pipeline_options(args, args.passthrough))
    except (datasets.DatasetError, PseudonymKeyError, invalid_rows.InvalidRowsRefused) as exc:
        print(f"fraudops dataset build: {exc}", file=sys.stderr)
        return 1
    if args.json:
        print(json.dumps(manifest, indent=2))
    elif not created:
        print(f"{version} (unchanged: same content as the existing version)", file=sys.stderr)
    print(version)
    return 0
