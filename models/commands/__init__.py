"""Model subcommands: train, promote, rollback, report, models, benchmark."""

from __future__ import annotations

import argparse
import os
from pathlib import Path

from models.registry import DEFAULT_ROOT


def add_registry_argument(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--registry",
        type=Path,
        default=DEFAULT_ROOT,
        help="model registry directory (env FRAUDOPS_MODEL_DIR)",
    )


def add_datasets_argument(p: argparse.ArgumentParser) -> None:
    default = Path(os.environ.get("FRAUDOPS_DATASET_DIR", "data/datasets"))
    p.add_argument(
        "--datasets",
        type=Path,
        default=default,
        help="dataset versions directory (env FRAUDOPS_DATASET_DIR)",
    )
