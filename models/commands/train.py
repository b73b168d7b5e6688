"""``fraudops train --dataset VERSION``: train, choose thresholds, register as candidate."""

from __future__ import annotations

import argparse
import json
import shlex
import sys
from pathlib import Path

from models.commands import add_datasets_argument, add_registry_argument


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--dataset", required=True, help="dataset version (e.g. v3) or 'latest'")
    p.add_argument("--config", type=Path, help="TOML or JSON file overriding TrainConfig")
    add_datasets_argument(p)
    add_registry_argument(p)
    p.add_argument("--json", action="store_true", help="print the manifest's metrics as JSON")
    p.add_argument("--quiet", action="store_true", help="no progress output")


def run(args: argparse.Namespace) -> int:
    from pydantic import ValidationError

    from fraudops import datasets
    from models.config import TrainConfig
    from models.registry import Registry
    from models.trainer import train_version
    from models.training import TrainingError

    try:
        cfg = TrainConfig.load(args.config)
    except (OSError, ValueError, ValidationError) as exc:
        print(f"fraudops train: --config {args.config}: {exc}", file=sys.stderr)
        return 2
    if args.quiet:
        cfg = cfg.model_copy(update={"progress_every": 0})
    version = args.dataset
    if version == "latest":
        version = datasets.latest_version(args.datasets)
    command = shlex.join(["fraudops", *sys.argv[1:]])
    try:
        if version is None:
            raise datasets.DatasetError(f"no dataset version under {args.datasets}")
        say = (lambda _msg: None) if args.quiet else None
        model_version, result = train_version(
            args.datasets, version, cfg, Registry(args.registry), command, say
        )
    except (datasets.DatasetError, TrainingError) as exc:
        print(f"fraudops train: {exc}", file=sys.stderr)
        return 1
    m = result.metrics
    if args.json:
        print(
            json.dumps(
                {"version": model_version, "metrics": m, "thresholds": result.thresholds},
                indent=2,
                default=str,
            )
        )
    else:
        decline = result.thresholds["decline"]
        decline = "never" if decline is None else f"{decline:.4f}"
        print(
            f"{model_version}: validation AP {m['average_precision']:.4f}, AUC {m['auc_roc']:.4f}, "
            f"CP@100 {m['card_precision_at_100']:.4f}, recall@1%FPR {m['recall_at_1pct_fpr']:.4f}; "
            f"review >= {result.thresholds['review']:.4f}, decline >= {decline} "
            "(registered as candidate)",
            file=sys.stderr,
        )
        print(model_version)
    return 0
