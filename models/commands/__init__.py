"""Model subcommands: train, promote, rollback, report, models, benchmark."""

from __future__ import annotations

import argparse
from pathlib import Path

from models.settings import ModelSettings


def add_registry_argument(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--registry",
        type=Path,
        default=ModelSettings().model_dir,
        help="model registry directory (env FRAUDOPS_MODEL_DIR)",
    )


def add_datasets_argument(p: argparse.ArgumentParser) -> None:
    default = ModelSettings().dataset_dir
    p.add_argument(
        "--datasets",
        type=Path,
        default=default,
        help="dataset versions directory (env FRAUDOPS_DATASET_DIR)",
    )
