"""``fraudops bench core|pipeline|scoring|cluster``: benchmarks that print numbers (``--json``).

Part of the CLI face: each benchmark lives with its part and is loaded by name when it runs, so
the core imports none of them (tests/unit/test_layering.py)."""

from __future__ import annotations

import argparse
import importlib
from pathlib import Path

PASSTHROUGH = True
PARTS = {
    "core": "fraudops.benchmarks",
    "pipeline": "beam_pipelines.bench",
    "scoring": "services.scoring.benchmark",
    "cluster": "services.scoring.cluster_bench",
}


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("what", choices=tuple(PARTS))
    p.add_argument("--json", action="store_true")
    p.add_argument("--quick", action="store_true", help="small data: a smoke run, not the numbers")
    p.add_argument("--direct-workers", type=int, default=1, help="pipeline: DirectRunner workers")
    p.add_argument("--runner", default="DirectRunner", help="pipeline: DirectRunner or dask")
    p.add_argument(
        "--dask-scheduler",
        help="pipeline --runner dask: join this scheduler (tcp://HOST:PORT; default: a local "
        "scheduler and --dask-workers worker processes)",
    )
    p.add_argument("--dask-workers", type=int, default=2, help="pipeline: local dask workers")
    p.add_argument(
        "--history", type=Path, help="pipeline: this Parquet history, not a simulated one"
    )
    p.add_argument("--workers", type=int, default=2, help="scoring: server worker processes")
    p.add_argument("--server-log", type=Path, help="cluster: where the server's log goes")
    p.add_argument(
        "--rate-limit",
        type=int,
        default=0,
        help="scoring: the bench key's rate limit per second (0: off); to measure the limiter's "
        "cost, one high enough never to refuse",
    )

    p.add_argument(
        "--challenger",
        action="store_true",
        help="scoring: also train a second model and run the 500/s rate alternately without and "
        "with it as the shadow challenger (p99 of each, in the same run)",
    )
    p.add_argument("--challenger-rounds", type=int, default=3, help="scoring: A/B rounds")
    p.add_argument(
        "--rules-rounds",
        type=int,
        default=2,
        help="scoring: A/B rounds at 500/s without / with the 50-rule bench set "
        "(rules_us_per_payment); 0 skips them",
    )


def run(args: argparse.Namespace) -> int:
    importlib.import_module(PARTS[args.what]).run(args)
    return 0
