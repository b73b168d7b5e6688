"""``fraudops bench core|pipeline``: benchmarks that print numbers (``--json`` for tools)."""

from __future__ import annotations

import argparse

PASSTHROUGH = True


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("what", choices=("core", "pipeline"))
    p.add_argument("--json", action="store_true")
    p.add_argument("--quick", action="store_true", help="small data: a smoke run, not the numbers")
    p.add_argument("--direct-workers", type=int, default=1, help="pipeline: DirectRunner workers")


def run(args: argparse.Namespace) -> int:
    if args.what == "core":
        from fraudops.benchmarks import run as run_core

        run_core(args)
    else:
        from beam_pipelines.bench import run as run_pipeline

        run_pipeline(args)
    return 0
