"""``fraudops dataset build|list|show``: a new immutable, point-in-time dataset version from
histories. The ``dataset`` command adds ``build --feedback`` and ``validate`` on top of these
(retraining/commands/dataset.py): they need the feedback database and the models' data gate."""

from __future__ import annotations

import argparse
import json
import shlex
import sys
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING

from beam_pipelines.commands import epoch
from beam_pipelines.options import add_runner_arguments, pipeline_session
from fraudops import invalid_rows
from fraudops.settings import PathSettings

if TYPE_CHECKING:
    from beam_pipelines.dataset import DatasetJob


def add_subcommands(
    sub: argparse._SubParsersAction[argparse.ArgumentParser],
) -> argparse.ArgumentParser:
    """``build``, ``show`` and ``list``; returns build's parser for the ``dataset`` command to
    extend."""
    datasets_dir = PathSettings().dataset_dir
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
        "--database-url",
        help="feedback database: labels and the erasure ledger (default: DATABASE_URL)",
    )
    b.add_argument("--label-cutoff", help="RFC 3339: labels arriving later are ignored")
    b.add_argument("--out", type=Path, default=datasets_dir)
    b.add_argument("--parent", help="parent version (default: the latest under --out)")
    b.add_argument("--dead-letter", help="path prefix: every rejected record as JSON lines "
                   "(invalid rows, duplicate ids, labels of unknown transactions)")  # fmt: skip
    where = "quarantine.parquet in the new version; --feedback: the parent's policy unless given"
    invalid_rows.add_arguments(b, where, path_option=False)
    b.add_argument("--json", action="store_true", help="print the manifest as JSON")
    add_runner_arguments(b)
    show = sub.add_parser("show", help="print a version's manifest")
    show.add_argument("version")
    show.add_argument("--out", type=Path, default=datasets_dir)
    versions = sub.add_parser("list", help="list versions")
    versions.add_argument("--out", type=Path, default=datasets_dir)
    return b


def run(args: argparse.Namespace) -> int:
    from fraudops import datasets

    if args.action == "list":
        for _, path in datasets.version_dirs(args.out):
            m = datasets.read_manifest(args.out, path.name)
            print(f"{path.name:<6} {m['rows']:>10,} rows  {m['frauds'] or 0:>8,} frauds  "
                  f"parent={m['parent']}  {m['created_at']}")  # fmt: skip
        return 0
    if args.action == "show":
        try:
            print(json.dumps(datasets.read_manifest(args.out, args.version), indent=2))
        except datasets.DatasetError as exc:
            print(f"fraudops dataset: {exc}", file=sys.stderr)
            return 1
        return 0
    return build(args)


def build(
    args: argparse.Namespace, make_job: Callable[[int | None], DatasetJob] | None = None
) -> int:
    """Build the job (``make_job(label cut-off)``, default: from ``--history``; it may read the
    erasure ledger), run it, print the version."""
    from beam_pipelines.dataset import run_dataset
    from fraudops import datasets
    from fraudops.pseudonyms import PseudonymKeyError

    if make_job is None and not args.history:
        print("fraudops dataset build: --history (or --feedback) is required", file=sys.stderr)
        return 2
    try:
        cutoff = epoch(args.label_cutoff) if args.label_cutoff else None
    except ValueError as exc:
        print(f"fraudops dataset build: --label-cutoff: {exc}", file=sys.stderr)
        return 2
    try:
        job = (make_job or (lambda c: history_job(args, c)))(cutoff)
        job = replace(job, invalid=invalid_rows.policy_from(args, job.invalid))
        with pipeline_session(args, args.passthrough) as options:
            version, manifest, created = run_dataset(job, options)
    except (datasets.DatasetError, PseudonymKeyError, invalid_rows.InvalidRowsRefused) as exc:
        print(f"fraudops dataset build: {exc}", file=sys.stderr)
        return 1
    if args.json:
        print(json.dumps(manifest, indent=2))
    elif not created:
        print(f"{version} (unchanged: same content as the existing version)", file=sys.stderr)
    print(version)
    return 0


def command_line() -> str:
    return shlex.join(["fraudops", *sys.argv[1:]])


def history_job(args: argparse.Namespace, cutoff: int | None) -> DatasetJob:
    from beam_pipelines.commands import erasure_ledger
    from beam_pipelines.dataset import DatasetJob

    delay = args.label_delay_days
    return DatasetJob(
        history=args.history[0] if len(args.history) == 1 else tuple(args.history),
        out=args.out,
        labels=None
        if not args.labels
        else (args.labels[0] if len(args.labels) == 1 else tuple(args.labels)),
        label_delay_days="auto" if delay is None else delay,
        label_cutoff=cutoff,
        shards=args.shards,
        parent=args.parent,
        command=command_line(),
        dead_letter=args.dead_letter,
        erased=erasure_ledger(args.database_url),
    )
