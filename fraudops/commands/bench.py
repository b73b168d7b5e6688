"""``fraudops bench core|pipeline|scoring``: benchmarks that print numbers (``--json``)."""

from __future__ import annotations

import argparse

PASSTHROUGH = True


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("what", choices=("core", "pipeline", "scoring"))
    p.add_argument("--json", action="store_true")
    p.add_argument("--quick", action="store_true", help="small data: a smoke run, not the numbers")
    p.add_argument("--direct-workers", type=int, default=1, help="pipeline: DirectRunner workers")
    p.add_argument("--workers", type=int, default=2, help="scoring: server worker processes")


def run(args: argparse.Namespace) -> int:
    if args.what == "scoring":
        from services.scoring.benchmark import run as run_scoring

        run_scoring(args)
    elif args.what == "core":
        from fraudops.benchmarks import run as run_core

        run_core(args)
    else:
        from beam_pipelines.bench import run as run_pipeline

        run_pipeline(args)
    return 0
