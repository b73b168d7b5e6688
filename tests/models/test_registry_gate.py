"""Registry aliases, the promotion gate (through the real commands), rollback and the report."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from models.registry import Registry
from tests.cli import run_cli
from tests.models.conftest import publish_dataset

pytestmark = pytest.mark.slow


@pytest.fixture
def workspace(trained: dict[str, Path], tmp_path: Path) -> dict[str, Path]:
    ds, reg = tmp_path / "datasets", tmp_path / "models"
    shutil.copytree(trained["datasets"], ds)
    shutil.copytree(trained["registry"], reg)
    return {"datasets": ds, "registry": reg}


def train(ws: dict[str, Path], dataset: str, config: Path) -> str:
    r = run_cli("train", "--dataset", dataset, "--datasets", str(ws["datasets"]),
                "--registry", str(ws["registry"]), "--config", str(config))  # fmt: skip
    assert r.returncode == 0, r.stderr
    return r.stdout.strip()


def promote(ws: dict[str, Path], version: str, *extra: str) -> tuple[int, dict]:
    r = run_cli("promote", version, "--registry", str(ws["registry"]),
                "--datasets", str(ws["datasets"]), "--json", *extra)  # fmt: skip
    return r.returncode, (json.loads(r.stdout) if r.stdout.strip() else {"stderr": r.stderr})


def test_gate_promotes_better_refuses_worse_and_rollback_restores(
    workspace: dict[str, Path], model_frame: pd.DataFrame, fast_config_file: Path
) -> None:
    reg = Registry(workspace["registry"])
    code, first = promote(workspace, "m1")
    assert code == 0 and first["promoted"] and first["reason"] == "no production model yet"
    assert reg.aliases()["production"] == "m1" and reg.aliases()["candidate"] is None

    # a model trained on shuffled labels learns nothing: the gate must refuse it
    rng = np.random.default_rng(0)
    noise = model_frame.assign(is_fraud=rng.permutation(model_frame["is_fraud"].to_numpy()))
    assert publish_dataset(workspace["datasets"], noise, parent="v1") == "v2"
    worse = train(workspace, "v2", fast_config_file)
    code, refused = promote(workspace, worse, "--holdout-dataset", "v1")
    assert code == 1 and not refused["promoted"]
    m = refused["metrics"]
    assert m["candidate"]["average_precision"] < m["production"]["average_precision"] - 0.01
    assert m["holdout"]["dataset"] == "v1" and m["holdout"]["frauds"] > 0
    # judged on days it never saw: exactly the gate window its training left out
    gate = Registry(workspace["registry"]).manifest(worse)["windows"]["gate"]
    assert (m["holdout"]["first_day"], m["holdout"]["last_day"]) == (
        gate["first_day"], gate["last_day"]
    )  # fmt: skip
    assert m["holdout"]["candidate_windows"] == "unseen"
    assert m["holdout"]["production_windows"] == "unseen"  # m1 left v1's gate days out too
    assert reg.aliases()["production"] == "m1"

    # the same model again (same data, same config) is within tolerance: promoted
    same = train(workspace, "v1", fast_config_file)
    code, ok = promote(workspace, same, "--holdout-dataset", "v1")
    assert code == 0 and ok["promoted"], ok
    assert reg.aliases()["production"] == same

    r = run_cli("rollback", "--registry", str(workspace["registry"]))
    assert r.returncode == 0 and f"{same} -> m1" in r.stdout
    assert reg.aliases()["production"] == "m1"
    again = run_cli("rollback", "--registry", str(workspace["registry"]))
    assert again.returncode == 1 and "nothing to roll back" in again.stderr

    actions = [(d["action"], d["version"]) for d in reg.decisions()]
    assert actions == [
        ("register", "m1"), ("promote", "m1"), ("register", worse), ("refuse", worse),
        ("register", same), ("promote", same), ("rollback", "m1"),
    ]  # fmt: skip
    refusal = reg.decisions()[3]
    assert refusal["by"] and "below production" in refusal["reason"]
    assert refusal["metrics"]["tolerance"] == 0.01


def test_gate_refuses_a_holdout_the_candidate_was_tuned_or_trained_on(
    workspace: dict[str, Path], fast_config_file: Path
) -> None:
    reg = Registry(workspace["registry"])
    production = train(workspace, "v1", fast_config_file)
    assert promote(workspace, production)[0] == 0  # the first production model: no gate
    windows = reg.manifest("m1")["windows"]
    decisions = len(reg.decisions())

    # 10 days: the gate's own 7 and the last 3 of m1's tune window
    r = run_cli("promote", "m1", "--holdout-days", "10", "--registry", str(workspace["registry"]),
                "--datasets", str(workspace["datasets"]))  # fmt: skip
    assert r.returncode == 1 and "m1 promoted" not in r.stderr
    tune_last = windows["tune"]["last_day"]
    seen = (pd.Timestamp(tune_last) - pd.Timedelta(days=2)).date().isoformat()
    named = f"overlaps m1's tune window (v1 {windows['tune']['first_day']}..{tune_last})"
    assert f"{named} on {seen}..{tune_last}" in r.stderr, r.stderr
    assert "train window" not in r.stderr
    # a holdout reaching into the train window names both
    r = run_cli("promote", "m1", "--holdout-days", "30", "--registry", str(workspace["registry"]),
                "--datasets", str(workspace["datasets"]))  # fmt: skip
    assert r.returncode == 1 and "tune window" in r.stderr and "train window" in r.stderr
    assert len(reg.decisions()) == decisions  # not judged: nothing recorded, still candidate
    assert reg.aliases()["production"] == production

    # a manifest from before windows were recorded: unknown, refused unless allowed
    path = workspace["registry"] / "m1" / "manifest.json"
    manifest = json.loads(path.read_text())
    del manifest["windows"]
    path.write_text(json.dumps(manifest))
    code, out = promote(workspace, "m1")
    assert code == 1 and "records no train/tune windows" in out["stderr"]
    code, out = promote(workspace, "m1", "--allow-unknown-windows")
    assert code == 0 and out["metrics"]["holdout"]["candidate_windows"] == "unknown"
    assert reg.decisions()[-1]["metrics"]["holdout"]["candidate_windows"] == "unknown"


def test_gate_refuses_a_candidate_of_another_feature_contract(workspace: dict[str, Path]) -> None:
    path = workspace["registry"] / "m1" / "manifest.json"
    manifest = json.loads(path.read_text())
    manifest["features"] = list(reversed(manifest["features"]))
    path.write_text(json.dumps(manifest))
    code, out = promote(workspace, "m1")
    assert code == 1 and "feature contract" in out["reason"]
    assert Registry(workspace["registry"]).aliases()["production"] is None


def test_report_has_plots_and_compares_with_production(
    workspace: dict[str, Path], fast_config_file: Path
) -> None:
    assert promote(workspace, "m1")[0] == 0
    second = train(workspace, "v1", fast_config_file)
    r = run_cli("report", second, "--registry", str(workspace["registry"]))
    assert r.returncode == 0, r.stderr
    index = Path(r.stdout.strip())
    page = index.read_text()
    for plot in ("learning_curves", "curves", "scores", "thresholds", "importance", "shap"):
        png = index.parent / f"{plot}.png"
        assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size > 5000
        assert f'src="{plot}.png"' in page
    assert "m1 (production)" in page and "scored on the same validation rows" in page
    assert "fraud_amount_caught" in page
