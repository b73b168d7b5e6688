"""A small simulated dataset version and a model trained on it, shared by the model tests."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from fraudops import datasets, versioned
from fraudops.features import contract_fields
from fraudops.features.offline import labelled_feature_frame
from models.config import TrainConfig
from tests.cli import run_cli

FAST = {
    "iterations": 150,
    "learning_rate": 0.15,
    "depth": 4,
    "early_stopping_rounds": 40,
    "imbalance_candidates": ["none", "SqrtBalanced"],
    "progress_every": 0,
    "review_budget_per_day": 20,
    "decline_precision": 0.8,
}


def dataset_frame(history: pd.DataFrame) -> pd.DataFrame:
    """What the dataset pipeline writes, computed with the offline fold (same feature code)."""
    return labelled_feature_frame(history)


def publish_dataset(root: Path, frame: pd.DataFrame, parent: str | None = None) -> str:
    staging = versioned.new_staging(root)
    frame.to_parquet(staging / "part-00000.parquet", index=False)
    summary = datasets.combine_summaries([datasets.part_summary(frame)])
    manifest = {
        **summary,
        "parent": parent,
        **contract_fields(),
    }
    return datasets.publish(root, staging, manifest)


@pytest.fixture(scope="session")
def model_frame(small_history: pd.DataFrame) -> pd.DataFrame:
    return dataset_frame(small_history)


@pytest.fixture(scope="session")
def fast_config_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("cfg") / "train.json"
    path.write_text(json.dumps(FAST))
    return path


@pytest.fixture(scope="session")
def fast_config() -> TrainConfig:
    return TrainConfig.model_validate(FAST)


@pytest.fixture(scope="session")
def trained(
    tmp_path_factory: pytest.TempPathFactory, model_frame: pd.DataFrame, fast_config_file: Path
) -> dict[str, Path]:
    """Dataset v1 and model m1 trained from it by the real command (read-only for tests)."""
    base = tmp_path_factory.mktemp("trained")
    ds, reg = base / "datasets", base / "models"
    assert publish_dataset(ds, model_frame) == "v1"
    r = run_cli("train", "--dataset", "v1", "--datasets", str(ds), "--registry", str(reg),
                "--config", str(fast_config_file))  # fmt: skip
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "m1"
    return {"datasets": ds, "registry": reg}
