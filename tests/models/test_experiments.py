"""Every training run is tracked: config, dataset, learning curves, costs, metrics, model version;
runs are listed and compared from the command line."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from models import experiments
from tests.cli import run_cli
from tests.models.conftest import FAST


def test_training_runs_are_recorded_listed_and_compared(
    trained: dict[str, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import shutil

    reg = tmp_path / "models"
    shutil.copytree(trained["registry"], reg)
    deeper = tmp_path / "deeper.json"
    deeper.write_text(json.dumps({**FAST, "depth": 6, "iterations": 60}))
    mlruns = tmp_path / "mlruns"
    mlflow_env = {"MLFLOW_TRACKING_URI": mlruns.as_uri(), "MLFLOW_ALLOW_FILE_STORE": "true"}
    r = run_cli(
        "train",
        "--dataset",
        "v1",
        "--datasets",
        str(trained["datasets"]),
        "--registry",
        str(reg),
        "--config",
        str(deeper),
        "--quiet",
        env=mlflow_env,
    )
    assert r.returncode == 0, r.stderr
    first, second = experiments.runs(reg)
    assert (first["model_version"], second["model_version"]) == ("m1", "m2")
    assert second["config"]["depth"] == 6 and second["dataset"]["version"] == "v1"
    assert second["dataset"]["content_hash"] == first["dataset"]["content_hash"]
    assert second["wall_s"] > 0 and second["cpu_s"] > 0 and second["peak_rss_mb"] > 50
    assert 0 < second["metrics"]["average_precision"] <= 1
    assert second["best_iteration"] < second["iterations"] <= 60
    curves = json.loads((reg / "m2" / experiments.CURVES).read_text())
    assert len(curves["validation"]["PRAUC"]) == second["iterations"]
    assert len(curves["validation"]["AUC"]) == len(curves["learn"]["Logloss"])

    listed = run_cli("experiments", "list", "--registry", str(reg)).stdout.splitlines()
    assert [line.split()[0] for line in listed[1:]] == ["m1", "m2"]
    cmp = run_cli("experiments", "compare", "m1", "m2", "--registry", str(reg))
    assert cmp.returncode == 0, cmp.stderr
    rows = {line.split()[0]: line for line in cmp.stdout.splitlines()[1:]}
    assert rows["config.depth"].split()[1:3] == ["4", "6"]
    assert "average_precision" in rows and "wall_s" in rows
    assert "dataset.version" not in rows  # same dataset: not a difference
    assert run_cli("experiments", "compare", "m1", "m9", "--registry", str(reg)).returncode == 1

    # the same run in the local MLflow store, learning curves included
    import mlflow

    monkeypatch.setenv("MLFLOW_ALLOW_FILE_STORE", "true")
    client = mlflow.tracking.MlflowClient(tracking_uri=mlruns.as_uri())
    logged = client.get_run(second["mlflow"]["run_id"])
    assert logged.data.params["config.depth"] == "6"
    assert logged.data.tags["model_version"] == "m2"
    assert logged.data.metrics["average_precision"] == second["metrics"]["average_precision"]
    history = client.get_metric_history(logged.info.run_id, "validation.PRAUC")
    assert [m.step for m in history] == list(range(second["iterations"]))
    assert "mlflow" not in first  # no MLFLOW_TRACKING_URI for m1: nothing logged
