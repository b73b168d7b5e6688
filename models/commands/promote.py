"""``fraudops promote VERSION``: the promotion gate; exit 1 when the candidate is refused."""

from __future__ import annotations

import argparse
import json
import sys
from typing import TYPE_CHECKING

from models.commands import add_datasets_argument, add_registry_argument
from models.settings import ModelSettings

if TYPE_CHECKING:
    from models.gate import GateResult


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("version", help="model version or 'candidate'")
    add_registry_argument(p)
    add_datasets_argument(p)
    p.add_argument("--holdout-dataset", help="dataset version to evaluate on (default: latest)")
    p.add_argument("--holdout-days", type=int, default=7)
    p.add_argument(
        "--tolerance",
        type=float,
        default=ModelSettings().gate_tolerance,
        help="allowed drop in average precision (env FRAUDOPS_GATE_TOLERANCE)",
    )
    p.add_argument(
        "--max-segment-gap",
        type=float,
        default=ModelSettings().gate_max_segment_gap,
        help="largest allowed recall gap between countries / channels (env "
        "FRAUDOPS_GATE_MAX_SEGMENT_GAP; a negative value turns the check off)",
    )
    p.add_argument(
        "--min-segment-frauds",
        type=int,
        default=30,
        help="segments with fewer frauds are not judged",
    )
    p.add_argument(
        "--allow-unknown-windows",
        action="store_true",
        help="gate a model that records no train/tune windows (trained before they were "
        "recorded): its holdout may hold days it was tuned on",
    )
    p.add_argument(
        "--gate",
        choices=["holdout", "shadow"],
        default="holdout",
        help="holdout: candidate vs production on a dataset's last days; shadow: the challenger "
        "vs production on the live payments it shadow-scored whose labels arrived",
    )
    p.add_argument(
        "--min-shadow-labelled",
        type=int,
        default=ModelSettings().shadow_gate_min_labelled,
        help="--gate shadow refuses to judge on fewer labelled shadow payments (env "
        "FRAUDOPS_SHADOW_GATE_MIN_LABELLED)",
    )
    p.add_argument("--database-url", help="feedback database for --gate shadow (env DATABASE_URL)")
    p.add_argument("--reason", default="promote", help="why (recorded in the decision log)")
    p.add_argument("--json", action="store_true")


def run(args: argparse.Namespace) -> int:
    from fraudops.datasets import DatasetError
    from models.gate import promote
    from models.registry import Registry, RegistryError
    from models.shadow import ShadowGateRefused
    from models.training import TrainingError

    try:
        if args.gate == "shadow":
            result = _shadow(args)
        else:
            result = promote(
                Registry(args.registry),
                args.version,
                args.datasets,
                args.tolerance,
                args.holdout_days,
                args.holdout_dataset,
                args.reason,
                args.max_segment_gap if args.max_segment_gap >= 0 else None,
                args.min_segment_frauds,
                allow_unknown_windows=args.allow_unknown_windows,
            )
    except (RegistryError, DatasetError, TrainingError, ShadowGateRefused) as exc:
        print(f"fraudops promote: {exc}", file=sys.stderr)
        return 1
    if args.json:
        print(
            json.dumps(
                {
                    "promoted": result.promoted,
                    "version": result.version,
                    "reason": result.reason,
                    "metrics": result.metrics,
                },
                indent=2,
            )
        )
    seen = result.metrics.get("holdout", {}).get("production_windows", "unseen")
    if seen not in ("unseen", "unknown"):
        print(f"note: production was fitted on part of the holdout ({seen}): its AP there is "
              "optimistic, the gate leans to keeping it", file=sys.stderr)  # fmt: skip
    verdict = "promoted to production" if result.promoted else "REFUSED"
    print(f"{result.version} {verdict}: {result.reason}", file=sys.stderr)
    return 0 if result.promoted else 1


def _shadow(args: argparse.Namespace) -> GateResult:
    from models.commands.shadow_report import database_url
    from models.registry import Registry
    from models.shadow import shadow_gate

    return shadow_gate(Registry(args.registry), database_url(args.database_url), args.version,
                       args.min_shadow_labelled, args.tolerance, args.reason)  # fmt: skip
