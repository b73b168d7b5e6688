"""Training on a small simulated dataset: time split, reproducibility, manifest, contract."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from models import artifact
from models.config import TrainConfig
from models.metrics import day_index
from models.registry import ContractMismatch, Registry
from models.training import TrainingError, time_split, train_model
from tests.cli import run_cli

pytestmark = pytest.mark.slow


def test_split_is_by_time_never_random(model_frame: pd.DataFrame) -> None:
    cfg = TrainConfig(validation_days=7, gap_days=2, holdout_days=5)
    train, valid = time_split(model_frame, cfg)
    t_days, v_days = day_index(train["timestamp"]), day_index(valid["timestamp"])
    assert len(np.unique(v_days)) == 7
    assert t_days.max() == v_days.min() - 3  # two gap days left out
    # the last five days (the gate's) are in neither part
    assert v_days.max() == day_index(model_frame["timestamp"]).max() - 5
    assert len(train) + len(valid) < len(model_frame)


def test_a_split_without_frauds_is_refused_with_a_reason(model_frame: pd.DataFrame) -> None:
    days = day_index(model_frame["timestamp"])
    tune = (days > days.max() - 14) & (days <= days.max() - 7)  # before the gate's last 7 days
    quiet_week = model_frame.assign(is_fraud=np.where(tune, 0, model_frame.is_fraud))
    with pytest.raises(TrainingError, match="validation part"):
        time_split(quiet_week, TrainConfig())
    with pytest.raises(TrainingError, match="training part"):
        time_split(model_frame, TrainConfig(validation_days=60))


def test_same_dataset_and_config_give_the_same_model(
    model_frame: pd.DataFrame, fast_config: TrainConfig
) -> None:
    a = train_model(model_frame, fast_config, log=lambda _m: None)
    b = train_model(model_frame, fast_config, log=lambda _m: None)
    np.testing.assert_allclose(a.valid_scores, b.valid_scores, rtol=0, atol=1e-12)
    assert a.metrics["average_precision"] == pytest.approx(b.metrics["average_precision"], abs=1e-9)
    assert a.imbalance == b.imbalance and a.thresholds == b.thresholds
    # the candidates were all tried and the winner has the best validation AP
    aps = {c["imbalance"]: c["validation_average_precision"] for c in a.candidates}
    assert set(aps) == set(fast_config.imbalance_candidates)
    assert aps[a.imbalance] == max(aps.values())


def test_registered_model_carries_lineage_thresholds_and_reference(
    trained: dict[str, Path],
) -> None:
    reg = Registry(trained["registry"])
    m = reg.manifest("m1")
    assert m["dataset"]["version"] == "v1" and m["dataset"]["content_hash"]
    assert m["features"][0] == "tx_amount" and "mcc" in m["categorical_features"]
    assert m["thresholds"]["review"] <= (m["thresholds"]["decline"] or 1.0)
    val = m["metrics"]["validation"]
    assert 0.5 < val["auc_roc"] <= 1 and 0 < val["average_precision"] <= 1
    assert "card_precision_at_100" in val and "money" in val
    assert set(m["reference"]) == {*m["features"], "__score__"}
    assert abs(sum(m["reference"]["tx_amount"]["proportions"]) - 1) < 1e-9
    assert m["code_commit"] and m["created_at"] and m["params"]["random_seed"] == 0
    assert reg.aliases()["candidate"] == "m1"
    # the model file answers like the validation scores stored beside it
    loaded = artifact.load(reg, "m1")
    valid = artifact.validation_frame(reg, "m1")
    np.testing.assert_allclose(loaded.score(valid), valid["score"], atol=1e-12)


def test_model_records_three_disjoint_windows(
    trained: dict[str, Path], model_frame: pd.DataFrame
) -> None:
    r = run_cli("models", "show", "m1", "--json", "--registry", str(trained["registry"]))
    assert r.returncode == 0, r.stderr
    windows = json.loads(r.stdout)["windows"]
    assert windows["dataset"] == "v1"
    spans = [(windows[w]["first_day"], windows[w]["last_day"]) for w in ("train", "tune", "gate")]
    # ISO dates order like the days: train ends before tune starts, tune before gate
    assert spans[0][0] <= spans[0][1] < spans[1][0] <= spans[1][1] < spans[2][0] <= spans[2][1]
    days = day_index(model_frame["timestamp"])
    assert windows["gate"]["last_day"] == str(model_frame["timestamp"].max().date())
    assert windows["gate"]["rows"] == int((days > days.max() - 7).sum())
    assert sum(windows[w]["rows"] for w in ("train", "tune", "gate")) == len(model_frame)
    m = Registry(trained["registry"]).manifest("m1")
    assert windows["tune"]["rows"] == m["validation"]["rows"]
    assert windows["train"]["rows"] == m["train"]["rows"]


def test_a_model_of_another_feature_contract_refuses_to_load(
    trained: dict[str, Path], tmp_path: Path
) -> None:
    import shutil

    shutil.copytree(trained["registry"] / "m1", tmp_path / "m1")
    manifest = json.loads((tmp_path / "m1" / "manifest.json").read_text())
    manifest["feature_fingerprint"] = "0000000000000000"
    (tmp_path / "m1" / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(ContractMismatch, match="0000000000000000"):
        artifact.load(Registry(tmp_path), "m1")


def test_train_command_reports_bad_input_clearly(trained: dict[str, Path], tmp_path: Path) -> None:
    missing = run_cli("train", "--dataset", "v9", "--datasets", str(trained["datasets"]),
                      "--registry", str(tmp_path))  # fmt: skip
    assert missing.returncode == 1 and "'v9' not found" in missing.stderr
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"depth": 99}))
    r = run_cli("train", "--dataset", "v1", "--datasets", str(trained["datasets"]),
                "--registry", str(tmp_path), "--config", str(bad))  # fmt: skip
    assert r.returncode == 2 and "depth" in r.stderr
    assert not (tmp_path / "m1").exists()
