"""The data validation gate: a sound version passes; each kind of broken version is blocked with
the failing expectation named; training refuses a version the gate found invalid."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from fraudops import datasets, versioned
from fraudops.features import contract_fields
from models import data_gate
from tests.cli import run_cli
from tests.models.conftest import publish_dataset


def publish(root: Path, frame: pd.DataFrame, parent: str | None, **manifest: object) -> str:
    staging = versioned.new_staging(root)
    frame.to_parquet(staging / "part-00000.parquet", index=False)
    summary = datasets.combine_summaries([datasets.part_summary(frame)])
    return datasets.publish(
        root, staging, {**summary, "parent": parent, **contract_fields(), **manifest}
    )


@pytest.fixture
def base(tmp_path: Path, model_frame: pd.DataFrame) -> tuple[Path, pd.DataFrame]:
    root = tmp_path / "ds"
    early = model_frame[model_frame.timestamp < model_frame.timestamp.quantile(0.8)]
    assert publish_dataset(root, early.reset_index(drop=True)) == "v1"
    return root, model_frame


def expectations(tmp: Path | None = None) -> dict[str, object] | Path:
    """The shipped expectations, with a fraud band that fits the small simulated history (its
    card-testing scenario makes it 15 % fraud)."""
    text = data_gate.EXPECTATIONS.read_text().replace(
        "fraud_rate = [0.0005, 0.15]", "fraud_rate = [0.001, 0.3]"
    )
    if tmp is None:
        import tomllib

        return tomllib.loads(text)
    path = tmp / "expectations.toml"
    path.write_text(text)
    return path


def failed(report: dict[str, object]) -> set[str]:
    return {c["name"] for c in report["checks"] if not c["passed"]}  # type: ignore[index, union-attr]


def test_a_sound_next_version_passes(base: tuple[Path, pd.DataFrame]) -> None:
    root, frame = base
    assert (frame["tx_amount"] == 0).sum() > 100  # $0 verifications are sound data
    v2 = publish(root, frame, "v1")
    report = data_gate.validate_version(root, v2, expectations())
    assert report["valid"], data_gate.explain(report)
    assert [c["name"] for c in report["checks"]] == [
        "schema",
        "null_rates",
        "volume",
        "fraud_rate",
        "label_delay",
        "drift",
    ]
    assert json.loads((root / v2 / data_gate.REPORT).read_text())["valid"] is True


def breakages(frame: pd.DataFrame, tmp: Path) -> dict[str, tuple[pd.DataFrame, dict, str]]:
    rng = np.random.default_rng(0)
    out_of_range = frame.assign(terminal_risk_7day=frame.terminal_risk_7day + 1.5)
    negative = frame.assign(tx_amount=np.where(frame.index % 50 == 0, -0.01, frame.tx_amount))
    nulls = frame.copy()
    nulls.loc[nulls.sample(frac=0.05, random_state=1).index, "customer_avg_amount_7day"] = np.nan
    dup = pd.concat([frame, frame.head(20)], ignore_index=True)
    fraud = frame.assign(is_fraud=(rng.random(len(frame)) < 0.5).astype("int8"))
    drift = frame.assign(tx_amount=frame.tx_amount * 20, customer_amount_24h=frame.tx_amount * 40)
    early = frame.head(200)[["transaction_id", "timestamp"]]
    labels = tmp / "labels.parquet"
    pd.DataFrame(
        {
            "transaction_id": early.transaction_id,
            "label": "fraud",
            "arrived_at": early.timestamp - pd.Timedelta(days=2),
        }
    ).to_parquet(labels)
    return {
        "schema": (out_of_range, {}, "terminal_risk_7day"),
        "null_rates": (nulls, {}, "customer_avg_amount_7day"),
        "schema ": (dup, {}, "transaction_id"),
        " schema": (negative, {}, "tx_amount"),
        "volume": (frame.head(len(frame) // 3), {}, "x parent"),
        "fraud_rate": (fraud, {}, "band"),
        "drift": (drift, {}, "tx_amount"),
        "label_delay": (frame, {"inputs": {"labels": [str(labels)]}}, "before their payment"),
    }


def test_each_broken_version_is_blocked_naming_the_check(
    base: tuple[Path, pd.DataFrame], tmp_path: Path
) -> None:
    root, frame = base
    for check, (broken, manifest, words) in breakages(frame, tmp_path).items():
        version = publish(root, broken, "v1", **manifest)
        report = data_gate.validate_version(root, version, expectations())
        assert not report["valid"], check
        assert check.strip() in failed(report), (check, data_gate.explain(report))
        detail = next(c["detail"] for c in report["checks"] if c["name"] == check.strip())
        assert words in detail, (check, detail)


def test_cli_validates_and_training_refuses_an_invalid_version(
    base: tuple[Path, pd.DataFrame], tmp_path: Path, fast_config_file: Path
) -> None:
    root, frame = base
    bad = publish(root, frame.assign(is_fraud=np.int8(1)), "v1")
    exp = str(expectations(tmp_path))
    r = run_cli("dataset", "validate", bad, "--out", str(root), "--expectations", exp)
    assert r.returncode == 1 and "INVALID" in r.stdout and "FAIL fraud_rate" in r.stdout
    t = run_cli(
        "train",
        "--dataset",
        bad,
        "--datasets",
        str(root),
        "--registry",
        str(tmp_path / "models"),
        "--config",
        str(fast_config_file),
    )
    assert t.returncode == 1 and "failed validation" in t.stderr
    good = publish(root, frame, "v1")
    r = run_cli("dataset", "validate", good, "--out", str(root), "--expectations", exp)
    assert r.returncode == 0, r.stdout + r.stderr
