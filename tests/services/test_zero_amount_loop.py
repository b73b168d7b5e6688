"""Zero-amount payments through the whole loop: simulate -> dataset build (Beam, the real command,
quarantining a few bad rows) -> train -> score on the real scoring app against the real Redis."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import redis
from fastapi.testclient import TestClient

from fraudops import datasets
from fraudops.features import CATEGORICAL_FEATURES, FEATURE_NAMES
from fraudops.features.offline import labelled_feature_frame
from fraudops.profile_store.client import ProfileStore
from fraudops.profile_store.commands import StoreConfig
from fraudops.readers import validate_history
from fraudops.simulator import SimulationConfig, simulate
from models.registry import Registry
from tests.cli import run_cli
from tests.services.conftest import PAYMENT, auth

pytestmark = [pytest.mark.integration, pytest.mark.slow]


@pytest.fixture(scope="module")
def loop(tmp_path_factory: pytest.TempPathFactory, fast_config_file: Path) -> dict[str, object]:
    base = tmp_path_factory.mktemp("zero-loop")
    cfg = SimulationConfig(customers=150, terminals=300, days=40, seed=21, card_testing_per_day=60)
    raw = simulate(cfg)
    raw.loc[[100, 5000], "amount"] = -3.0  # two bad rows among ~12,000: quarantined
    raw.to_parquet(base / "history.parquet", index=False)
    ds, reg = base / "datasets", base / "models"
    build = run_cli("dataset", "build", "--history", str(base / "history.parquet"),
                    "--out", str(ds), "--on-invalid", "quarantine")  # fmt: skip
    assert build.returncode == 0, build.stderr
    assert "apitools" not in build.stderr
    train = run_cli("train", "--dataset", "v1", "--datasets", str(ds), "--registry", str(reg),
                    "--config", str(fast_config_file), "--quiet")  # fmt: skip
    assert train.returncode == 0, train.stderr
    assert train.stdout.strip() == "m1"
    return {"raw": raw, "datasets": ds, "registry": reg}


@pytest.fixture
def registry_dir(loop: dict[str, object], tmp_path: Path) -> Path:
    """The scoring fixtures (tests/services/conftest.py) serve this loop's model."""
    root = tmp_path / "models"
    shutil.copytree(loop["registry"], root)  # type: ignore[arg-type]
    Registry(root).set_production("m1", "zero-amount loop")
    return root


def test_the_dataset_keeps_zero_amounts_equal_to_the_per_transaction_path(
    loop: dict[str, object],
) -> None:
    raw = loop["raw"]
    assert isinstance(raw, pd.DataFrame)
    ds = loop["datasets"]
    assert isinstance(ds, Path)
    m = datasets.read_manifest(ds, "v1")
    assert m["rows"] == len(raw) - 2 and m["invalid_rows"]["history"] == 2
    q = pd.read_parquet(ds / "v1" / m["invalid_rows"]["quarantine"])
    assert q["row"].tolist() == [101, 5001] and set(q["error"]) == {"amount: must be >= 0"}
    rows = datasets.load_dataset(ds, "v1").set_index("transaction_id")
    zero = rows[rows["tx_amount"] == 0]
    assert len(zero) > 100  # the card testers' $0 probes
    history, _ = validate_history(raw.drop(index=[100, 5000]))
    offline = labelled_feature_frame(history).set_index("transaction_id").loc[zero.index]
    for name in FEATURE_NAMES:
        if name in CATEGORICAL_FEATURES:
            assert zero[name].tolist() == offline[name].tolist(), name
        else:
            a, b = zero[name].to_numpy(float), offline[name].to_numpy(float)
            assert np.isfinite(a).all() and (a == b).all(), name
    assert (zero["customer_amount_ratio_7day"] == 0).any()  # $0 after real payments


def test_zero_amount_probes_are_scored_and_counted(
    client: TestClient, keys: dict[str, str], redis_client: redis.Redis, store_config: StoreConfig
) -> None:
    """A card tester's burst: $0 verification authorisations, then a large payment."""
    probes = [
        {**PAYMENT, "transaction_id": f"probe-{i}", "amount": amount, "channel": "ecommerce",
         "customer_id": "card-9", "country": "NG", "timestamp": f"2026-11-26T10:00:{i:02d}Z"}
        for i, amount in enumerate(["0.00", "0", "0.00", "1.00", "0.00", "180.00"])
    ]  # fmt: skip
    answers = [client.post("/v1/score", json=p, headers=auth(keys["score"])) for p in probes]
    assert [a.status_code for a in answers] == [200] * len(probes), answers[-1].text
    assert all(0 <= a.json()["score"] <= 1 and not a.json()["degraded"] for a in answers)
    batch = client.post(
        "/v1/score/batch", json={"transactions": probes}, headers=auth(keys["score"])
    )
    assert batch.status_code == 200 and batch.json()["results"] == [a.json() for a in answers]
    customer, _ = ProfileStore(redis_client, store_config).read("card-9", "term-1")
    day = 1795701600 // 86400
    assert customer.window_sum("dn", day, day) == 6  # every probe counted once
    assert customer.window_sum("da", day, day) == 181_000  # milli-units: 1.00 + 180.00
