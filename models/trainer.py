"""Train on a dataset version and register the result: what ``fraudops train`` and an automatic
retraining run both do."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

from fraudops import datasets
from models import artifact, data_gate, experiments, mlflow_log
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
    started_at = datetime.now(UTC).isoformat()
    with experiments.measured() as cost:
        result = train_model(frame, cfg, log=say)
    result.windows = {"dataset": version, **result.windows}
    dataset = {**manifest, "root": str(datasets_root)}
    model_version = artifact.save(registry, result, dataset, cfg.model_dump(), command)
    entry = {
        "run": f"{model_version}-{started_at[:19]}",
        "model_version": model_version,
        "started_at": started_at,
        "command": command,
        "config": cfg.model_dump(mode="json"),
        "dataset": {
            "version": version,
            "content_hash": manifest.get("content_hash"),
            "rows": manifest.get("rows"),
            "frauds": manifest.get("frauds"),
        },
        **cost,
        "metrics": {k: result.metrics.get(k) for k in experiments.KEY_METRICS},
        "thresholds": result.thresholds,
        "imbalance": result.imbalance,
        "best_iteration": int(result.model.get_best_iteration() or 0),
        "iterations": len(next(iter(result.curves.get("learn", {}).values()), [])),
        "candidates": result.candidates,
    }
    mlflow_run = mlflow_log.log_run(entry, result.curves)
    if mlflow_run:
        entry["mlflow"] = mlflow_run
    experiments.record(registry.root, entry)  # fmt: skip
    return model_version, result
