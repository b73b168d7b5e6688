"""The fraudops command as a user runs it (a real subprocess)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pandas as pd

from fraudops.features import FEATURE_NAMES


def fraudops(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "fraudops.cli", *args], capture_output=True, text=True, timeout=120
    )


def test_simulate_then_validate(tmp_path: Path) -> None:
    out = tmp_path / "h.parquet"
    r = fraudops("simulate", "--customers", "80", "--terminals", "150", "--days", "10",
                 "--seed", "5", "--out", str(out), "--format", "handbook")  # fmt: skip
    assert r.returncode == 0, r.stderr
    assert "transactions" in r.stdout
    df = pd.read_parquet(out)
    assert "TX_FRAUD" in df.columns and len(df) > 500
    v = fraudops("validate", str(out))
    assert v.returncode == 0 and f"{len(df):,} valid transactions" in v.stdout


def test_validate_reports_bad_rows(tmp_path: Path) -> None:
    path = tmp_path / "bad.csv"
    path.write_text(
        "transaction_id,timestamp,customer_id,terminal_id,amount\n"
        "1,2018-04-01T00:00:00Z,c,t,10\n2,2018-04-01T00:01:00Z,c,t,abc\n"
    )
    r = fraudops("validate", str(path))
    assert r.returncode == 1
    assert "row 2, field 'amount': not a number" in r.stderr


def test_bad_arguments_and_unknown_command(tmp_path: Path) -> None:
    r = fraudops("simulate", "--customers", "0", "--out", str(tmp_path / "x.parquet"))
    assert r.returncode == 2 and "--customers must be > 0" in r.stderr
    r = fraudops("simulate", "--out", str(tmp_path / "x.json"), "--days", "1", "--customers", "5")
    assert r.returncode == 2 and ".parquet" in r.stderr
    assert not (tmp_path / "x.json").exists()
    r = fraudops("nonsense")
    assert r.returncode == 2 and "unknown command" in r.stderr


def test_features_json_lists_the_contract() -> None:
    r = fraudops("features", "--json")
    doc = json.loads(r.stdout)
    assert [f["name"] for f in doc["features"]] == list(FEATURE_NAMES)
    assert doc["feature_set_version"] == "1"


def test_core_imports_without_beam_fastapi_or_catboost() -> None:
    code = (
        "import sys, fraudops.cli, fraudops.features, fraudops.profile_store.client, "
        "fraudops.readers, fraudops.simulator\n"
        "bad = [m for m in ('apache_beam', 'fastapi', 'catboost') if m in sys.modules]\n"
        "assert not bad, bad"
    )
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr


def test_docs_list_every_feature() -> None:
    doc = (Path(__file__).parents[2] / "docs" / "features.md").read_text()
    missing = [name for name in FEATURE_NAMES if f"`{name}`" not in doc]
    assert not missing


def test_a_bad_setting_is_one_line_naming_it_not_a_traceback(tmp_path: Path) -> None:
    env = {**os.environ, "FRAUDOPS_REDIS_TIMEOUT_S": "0"}
    r = subprocess.run([sys.executable, "-m", "fraudops.cli", "erase", "--customer", "c1"],
                       capture_output=True, text=True, env=env, cwd=tmp_path)  # fmt: skip
    assert r.returncode == 2 and "Traceback" not in r.stderr
    assert "CoreSettings.redis_timeout_s: Input should be greater than 0" in r.stderr
    # a command that needs only the paths is not refused for a setting it does not use
    env = {**os.environ, "FRAUDOPS_KEY_PREFIX": "a/b", "FRAUDOPS_DATASET_DIR": str(tmp_path)}
    r = subprocess.run([sys.executable, "-m", "fraudops.cli", "dataset", "list"],
                       capture_output=True, text=True, env=env, cwd=tmp_path)  # fmt: skip
    assert r.returncode == 0, r.stderr
