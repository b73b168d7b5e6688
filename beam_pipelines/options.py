"""Pipeline options: the DirectRunner by default; other runners' flags pass through unchanged."""

from __future__ import annotations

import argparse

from apache_beam.options.pipeline_options import PipelineOptions


def add_runner_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--runner",
        default="DirectRunner",
        help="DirectRunner (default), DataflowRunner, FlinkRunner, SparkRunner, ...",
    )
    p.add_argument(
        "--direct-workers",
        type=int,
        default=1,
        help="DirectRunner worker processes (default 1: with 2 workers Beam 2.77's runner dropped "
        "part of a shuffle on the full 1.8 M history; the pipelines detect it and fail)",
    )
    p.add_argument("--shards", type=int, default=8, help="entity and transaction shards")


def pipeline_options(args: argparse.Namespace, extra: list[str]) -> PipelineOptions:
    """``extra`` are the flags this CLI does not know: they go to Beam unchanged."""
    flags = [f"--runner={args.runner}", *extra]
    if args.runner == "DirectRunner":
        mode = "multi_processing" if args.direct_workers > 1 else "in_memory"
        flags += [
            f"--direct_num_workers={args.direct_workers}",
            f"--direct_running_mode={mode}",
        ]
    return PipelineOptions(flags, save_main_session=False)
