"""``fraudops scheduler [--every S] [--once]``: check the automatic triggers on a schedule.

A loop for a long-running process (systemd, a container), or ``--once`` for cron. Each turn is
one ``retrain --trigger auto`` run; a failed run is recorded and the loop goes on; SIGTERM ends
the loop after the current run.
"""

from __future__ import annotations

import argparse
import logging
import signal
import sys
import threading
from datetime import UTC, datetime

from retraining.commands.common import add_common_arguments, command_line

PASSTHROUGH = True
log = logging.getLogger("fraudops.scheduler")


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--every", type=float, default=900.0, help="seconds between checks")
    p.add_argument("--once", action="store_true", help="one check, then exit (for cron)")
    p.add_argument("--max-runs", type=int, help="stop after this many checks")
    add_common_arguments(p)


def run(args: argparse.Namespace) -> int:
    from beam_pipelines.options import pipeline_session
    from fraudops.settings import CoreSettings
    from retraining.config import RetrainConfig
    from retraining.run import Paths, RunInProgress, retrain
    from services.common.logs import configure_logging

    configure_logging("info")  # JSON lines, like every service
    cfg = RetrainConfig.load(args.config)
    paths = Paths(args.datasets, args.registry, args.database_url or CoreSettings().database_url)
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    checks, failures = 0, 0
    # with --runner dask and no --dask-scheduler: one local cluster for the scheduler's life
    with pipeline_session(args, args.passthrough) as options:
        while not stop.is_set():
            checks += 1
            try:
                record = retrain("auto", paths, cfg, datetime.now(UTC), options, command_line(),
                                 log.info)  # fmt: skip
                log.info("check %d: %s", checks, record["outcome"])
            except RunInProgress as exc:
                log.warning("check %d: %s", checks, exc)
            except Exception as exc:  # recorded in the runs log by retrain(); keep scheduling
                failures += 1
                log.error("check %d failed: %s: %s", checks, type(exc).__name__, exc)
            if args.once or (args.max_runs and checks >= args.max_runs):
                break
            stop.wait(args.every)
    print(f"scheduler: {checks} check(s), {failures} failed", file=sys.stderr)
    return 1 if args.once and failures else 0
