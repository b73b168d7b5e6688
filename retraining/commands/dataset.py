"""``fraudops dataset build|validate|show|list``: dataset versions.

Composed here, above the parts: a build from histories is the pipelines' (beam_pipelines), the
next version from the feedback database (``build --feedback``) the loop's (retraining), the data
gate (``validate``) the models'. No part imports another for it.
"""

from __future__ import annotations

import argparse

from beam_pipelines.commands import dataset as pipeline
from models.commands import dataset_validate

PASSTHROUGH = True  # unknown flags belong to the Beam runner


def add_arguments(p: argparse.ArgumentParser) -> None:
    sub = p.add_subparsers(dest="action", required=True)
    build = pipeline.add_subcommands(sub)
    build.add_argument(
        "--feedback",
        action="store_true",
        help="the next version: the parent's inputs + the feedback database's scoring "
        "log and labels (DATABASE_URL or --database-url)",
    )
    dataset_validate.add_arguments(
        sub.add_parser("validate", help="the data validation gate on a version (exit 1: invalid)")
    )


def run(args: argparse.Namespace) -> int:
    if args.action == "validate":
        return dataset_validate.run(args)
    if args.action != "build" or not args.feedback:
        return pipeline.run(args)
    from retraining.next_dataset import next_version_job

    return pipeline.build(
        args,
        lambda cutoff: next_version_job(args.out, args.parent, args.database_url, cutoff,
                                        args.shards, pipeline.command_line(), args.dead_letter),
    )  # fmt: skip
