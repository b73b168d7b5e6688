"""THE parity test: the dataset pipeline's features (offline, Beam) equal, value for value, what the
online path computes from Redis after a Beam backfill of everything before a cut-off, replaying the
rest transaction by transaction (and label by label) through the profile store's atomic update."""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import redis

from beam_pipelines.backfill import BackfillJob, run_backfill
from beam_pipelines.dataset import DatasetJob, run_dataset
from beam_pipelines.options import pipeline_options
from fraudops import datasets
from fraudops.features import CATEGORICAL_FEATURES, FEATURE_NAMES, feature_vector
from fraudops.features.offline import LabelEvent, event_order
from fraudops.profile_store.client import ProfileStore
from fraudops.profile_store.commands import StoreConfig
from fraudops.profile_store.layout import DAY
from fraudops.readers import epoch_seconds, iter_txns, validate_history
from fraudops.schema import Txn
from fraudops.simulator import SimulationConfig, simulate
from tests.conftest import TEST_REDIS_URL

pytestmark = [pytest.mark.integration, pytest.mark.slow]


def beam_options(workers: int = 1) -> object:
    args = argparse.Namespace(runner="DirectRunner", direct_workers=workers)
    return pipeline_options(args, [])


def realistic_labels(history: pd.DataFrame, seed: int) -> pd.DataFrame:
    """In-app answers within the hour, chargebacks weeks later, some legit, some overturned."""
    rng = np.random.default_rng(seed)
    frauds = history[history["is_fraud"] == 1]
    legit = history[history["is_fraud"] == 0].sample(frac=0.02, random_state=seed)
    ts = epoch_seconds(frauds["timestamp"])
    fast = rng.random(len(frauds)) < 0.5
    delay = np.where(
        fast, rng.integers(30, 3600, len(frauds)), rng.integers(5 * DAY, 40 * DAY, len(frauds))
    )
    rows = [
        pd.DataFrame(
            {"transaction_id": frauds["transaction_id"], "label": "fraud", "arrival": ts + delay}
        ),
        pd.DataFrame(
            {
                "transaction_id": legit["transaction_id"],
                "label": "legit",
                "arrival": epoch_seconds(legit["timestamp"]) + 600,
            }
        ),
    ]
    overturned = frauds.sample(frac=0.1, random_state=seed)
    rows.append(
        pd.DataFrame(
            {
                "transaction_id": overturned["transaction_id"],
                "label": "legit",
                "arrival": epoch_seconds(overturned["timestamp"]) + 45 * DAY,
            }
        )
    )
    labels = pd.concat(rows, ignore_index=True)
    labels["arrived_at"] = pd.to_datetime(labels.pop("arrival"), unit="s", utc=True)
    return labels


@pytest.mark.timeout(900)
def test_offline_dataset_equals_online_replay_after_backfill(
    tmp_path: Path, redis_client: redis.Redis, store_config: StoreConfig
) -> None:
    cfg = SimulationConfig(customers=400, terminals=800, days=60, seed=11, card_testing_per_day=8)
    compared, risky = check_parity(tmp_path, cfg, ProfileStore(redis_client, store_config),
                                   TEST_REDIS_URL, cluster=False, probes=50)  # fmt: skip
    assert compared >= 20_000
    # the replay used labels that arrived late and overturned ones: risk features were exercised
    assert risky > 100


def check_parity(
    tmp_path: Path,
    cfg: SimulationConfig,
    store: ProfileStore,
    redis_url: str,
    cluster: bool,
    probes: int,
) -> tuple[int, int]:
    """Offline dataset vs backfill into ``store``'s Redis + replay through it; every feature
    compared. Returns (payments compared, of them with terminal risk > 0)."""
    store_config = store.config
    raw = simulate(cfg)
    # $0 verification probes of the card testers: both paths must agree on them too
    assert (raw["amount"] == 0).sum() > probes
    history_path = tmp_path / "history.parquet"
    raw.to_parquet(history_path, index=False)
    history, _ = validate_history(raw)
    labels = realistic_labels(history, seed=3)
    labels_path = tmp_path / "labels.csv"
    labels.assign(arrived_at=labels["arrived_at"].dt.strftime("%Y-%m-%dT%H:%M:%SZ")).to_csv(
        labels_path, index=False
    )
    cut = int(pd.Timestamp(cfg.start_date, tz="UTC").timestamp()) + 30 * DAY

    # offline: the Beam dataset pipeline
    version, manifest, created = run_dataset(
        DatasetJob(history=str(history_path), out=tmp_path / "ds", labels=str(labels_path)),
        beam_options(),
    )
    assert created and manifest["rows"] == len(history)
    offline = datasets.load_dataset(tmp_path / "ds", version).set_index("transaction_id")

    # online: Beam backfill of everything before the cut, then replay the rest through Redis
    run_backfill(
        BackfillJob(
            history=str(history_path),
            redis_url=redis_url,
            config=store_config,
            redis_cluster=cluster,
            as_of=cut,
            labels=str(labels_path),
        ),
        beam_options(),
    )
    txns = {t.transaction_id: t for t in iter_txns(history)}
    events: list[Txn | LabelEvent] = [t for t in txns.values() if t.ts >= cut]
    for tid, label, arrived in zip(
        labels["transaction_id"], labels["label"], epoch_seconds(labels["arrived_at"]), strict=True
    ):
        tx = txns[str(tid)]
        if arrived >= cut:
            events.append(
                LabelEvent(
                    tx.transaction_id,
                    tx.customer_id,
                    tx.terminal_id,
                    int(arrived),
                    label == "fraud",
                )
            )
    events.sort(key=event_order)

    numeric = [i for i, n in enumerate(FEATURE_NAMES) if n not in CATEGORICAL_FEATURES]
    compared = 0
    for event in events:
        if isinstance(event, LabelEvent):
            store.apply_label(
                event.transaction_id,
                event.customer_id,
                event.terminal_id,
                event.arrival_ts,
                event.is_fraud,
            )
            continue
        profiles = store.apply_transaction(event)
        assert profiles.applied, event.transaction_id
        online = feature_vector(event, profiles.customer, profiles.terminal)
        row = offline.loc[event.transaction_id, list(FEATURE_NAMES)].tolist()
        for i, (a, b) in enumerate(zip(online, row, strict=True)):
            if i in numeric:
                assert abs(float(a) - float(b)) <= 1e-9 * max(1.0, abs(float(b))), (
                    f"{event.transaction_id} {FEATURE_NAMES[i]}: online {a} offline {b}"
                )
            else:
                assert a == b, (event.transaction_id, FEATURE_NAMES[i], a, b)
        compared += 1
    replayed = [e.transaction_id for e in events if isinstance(e, Txn)]
    return compared, int(offline.loc[replayed, "terminal_risk_7day"].gt(0).sum())
