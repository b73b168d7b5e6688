"""``fraudops demo [--keep-running]``: the whole loop on this machine, with a summary."""

from __future__ import annotations

import argparse
from pathlib import Path


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--workdir",
        type=Path,
        default=Path("data/demo"),
        help="where the run's data, models, reports and logs go (replaced each run)",
    )
    p.add_argument("--customers", type=int, default=1000)
    p.add_argument("--terminals", type=int, default=2000)
    p.add_argument("--history-days", type=int, default=90)
    p.add_argument("--replay-days", type=int, default=7)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument(
        "--keep-running",
        action="store_true",
        help="leave the services up after the summary (Ctrl-C stops them)",
    )


def run(args: argparse.Namespace) -> int:
    import logging
    import shutil

    from demo.run import DemoConfig, run_demo

    logging.basicConfig(level=logging.WARNING)
    if args.workdir.exists():
        shutil.rmtree(args.workdir)
    summary = run_demo(
        DemoConfig(
            args.workdir,
            args.customers,
            args.terminals,
            args.history_days,
            args.replay_days,
            args.seed,
            keep_running=args.keep_running,
        )
    )
    return 0 if summary["errors"] == 0 else 1
