"""Train on a dataset version and register the result: what ``fraudops train`` and an automatic
retraining run both do."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from fraudops import datasets
from models import artifact, data_gate
from models.config import TrainConfig
from models.registry import Registry
from models.training import TrainingError, TrainResult, check_dataset_contract, train_model


def train_version(
    datasets_root: Path,
    version: str,
    cfg: TrainConfig,
    registry: Registry,
    command: str,
    say: Callable[[str], None] | None = None,
) -> tuple[str, TrainResult]:
    """(model version registered as candidate, training result); DatasetError/TrainingError."""
    manifest = datasets.read_manifest(datasets_root, version)
    check_dataset_contract(manifest)
    report = data_gate.verdict(datasets_root, version)
    if report is not None and not report["valid"]:
        raise TrainingError(f"dataset {version} failed validation:\n{data_gate.explain(report)}")
    frame = datasets.load_dataset(datasets_root, version)
    result = train_model(frame, cfg, log=say)
    dataset = {**manifest, "root": str(datasets_root)}
    return artifact.save(registry, result, dataset, cfg.model_dump(), command), result
