"""``fraudops retrain [--trigger on-demand|auto]``: one retraining run (or ``--list`` the runs)."""

from __future__ import annotations

import argparse
import json
import sys
from datetime import UTC, datetime

from retraining.commands.common import add_common_arguments, command_line

PASSTHROUGH = True


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--trigger", choices=["on-demand", "auto"], default="on-demand",
                   help="on-demand: run now; auto: run only if a trigger fires")  # fmt: skip
    p.add_argument("--list", action="store_true", help="print the recorded runs and exit")
    p.add_argument("--json", action="store_true", help="print the run record as JSON")
    add_common_arguments(p)


def run(args: argparse.Namespace) -> int:
    from pydantic import ValidationError

    from beam_pipelines.options import pipeline_session
    from fraudops.settings import CoreSettings
    from retraining.config import RetrainConfig
    from retraining.run import Paths, RunInProgress, retrain, runs

    if args.list:
        for r in runs(args.registry):
            fired = ",".join(t["name"] for t in r.get("triggers", []) if t["fired"]) or "-"
            dataset = (r.get("dataset") or {}).get("version", "-")
            cand = (r.get("candidate") or {}).get("version", "-")
            prod = r.get("production_after", r.get("production_before"))
            print(
                f"{r['started_at']}  {r['run']}  {r['requested']:<9} {r['outcome']:<9} "
                f"fired={fired} dataset={dataset} candidate={cand} production={prod}"
            )
        return 0
    try:
        cfg = RetrainConfig.load(args.config)
    except (OSError, ValueError, ValidationError) as exc:
        print(f"fraudops retrain: --config {args.config}: {exc}", file=sys.stderr)
        return 2
    paths = Paths(args.datasets, args.registry, args.database_url or CoreSettings().database_url)
    say = lambda m: print(m, file=sys.stderr)  # noqa: E731
    try:
        with pipeline_session(args, args.passthrough) as options:
            record = retrain(args.trigger, paths, cfg, datetime.now(UTC), options,
                             command_line(), say)  # fmt: skip
    except RunInProgress as exc:
        print(f"fraudops retrain: {exc}", file=sys.stderr)
        return 3
    except Exception as exc:
        print(f"fraudops retrain: failed ({type(exc).__name__}: {exc}); recorded", file=sys.stderr)
        return 1
    if args.json:
        print(json.dumps(record, indent=2, default=str))
    else:
        print(record["outcome"])
    return 0 if record["outcome"] in ("promoted", "skipped") else 1  # refused, blocked: 1
