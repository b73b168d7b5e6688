"""Service-level parity: the features a real scoring server computes and logs for each payment
(HTTP -> schema -> wire -> engine) equal, with the parity test's tolerance, the offline dataset's
point-in-time features for the same payments, label-dependent ones included (labels through a
real feedback server, at the arrival times it recorded).

A replay of the past through a live service cannot give labels their historical arrival times: the
feedback service stamps a label with its own clock. So the history is moved in time: its earlier
part ends just before now, its later part (the payments scored) lies in the next days, inside the
server's ``max_ahead_s``. The earlier frauds' labels are posted now, before the replay, so they
arrived before every scored payment in both paths, and the offline dataset is built with the
arrival times the feedback service answered (whole seconds, as the profile store takes them). The
later payments' own frauds would be labelled after the replay: they cannot change the compared
features, so they are not sent."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import orjson
import pandas as pd
import psycopg
import pytest
import redis

from beam_pipelines.backfill import BackfillJob, run_backfill
from beam_pipelines.dataset import DatasetJob, run_dataset
from fraudops import datasets
from fraudops.features import CATEGORICAL_FEATURES, FEATURE_NAMES
from fraudops.profile_store.commands import StoreConfig
from fraudops.profile_store.layout import DAY, LABEL_DELAY_DAYS
from fraudops.readers import epoch_seconds, iter_txns, validate_history
from fraudops.schema import Txn
from fraudops.simulator import SimulationConfig, simulate
from services.common import scoring_log
from tests.conftest import TEST_REDIS_URL
from tests.feedback.conftest import bearer, feedback_env, feedback_keys, postgres_url  # noqa: F401
from tests.pipelines.test_parity import beam_options
from tests.services.conftest import PAYMENT, Server, auth

pytestmark = [pytest.mark.integration, pytest.mark.slow]
LATER_DAYS = 3


def moved_history(now: int) -> tuple[pd.DataFrame, int]:
    """A validated history whose last LATER_DAYS days start 2 minutes from now; the split."""
    cfg = SimulationConfig(customers=330, terminals=660, days=30 + LATER_DAYS, seed=21,
                           card_testing_per_day=6)  # fmt: skip
    raw = simulate(cfg)
    split = now + 120
    shift = split - int(pd.Timestamp(cfg.start_date, tz="UTC").timestamp()) - 30 * DAY
    raw["timestamp"] = raw["timestamp"] + pd.Timedelta(seconds=shift)
    history, bad = validate_history(raw)
    assert bad.empty
    return history, split


def payload(tx: Txn) -> dict[str, str]:
    return {**PAYMENT, "transaction_id": tx.transaction_id, "customer_id": tx.customer_id,
            "terminal_id": tx.terminal_id, "amount": f"{tx.amount_milli / 1000:.3f}",
            "currency": tx.currency, "mcc": tx.mcc, "country": tx.country, "channel": tx.channel,
            "timestamp": stamp([tx.ts])[0]}  # fmt: skip


def stamp(epoch: Any) -> list[str]:
    """Epoch seconds as the label files' RFC 3339 timestamps."""
    return list(
        pd.to_datetime(np.asarray(epoch), unit="s", utc=True).strftime("%Y-%m-%dT%H:%M:%SZ")
    )


def post_labels(url: str, key: str, posts: list[tuple[str, str]]) -> list[dict[str, Any]]:
    """Post (transaction_id, label) as an analyst, 16 at a time; the service's answers."""

    async def run() -> list[dict[str, Any]]:
        gate = asyncio.Semaphore(16)
        async with httpx.AsyncClient(base_url=url, timeout=60, headers=bearer(key)) as client:

            async def one(tid: str, label: str) -> dict[str, Any]:
                async with gate:
                    r = await client.post("/v1/feedback", json={
                        "transaction_id": tid, "label": label, "source": "analyst"})  # fmt: skip
                assert r.status_code in (200, 201), r.text
                return dict(r.json())

            return list(await asyncio.gather(*(one(t, lab) for t, lab in posts)))

    return asyncio.run(run())


def score_in_customer_order(url: str, key: str, txs: list[Txn], in_flight: int = 8) -> None:
    """Each customer's payments one after the other, in timestamp order, customers side by side.
    Enough for the service's counts: a customer's features depend on its own payments only, and
    a terminal's on its payments over a window ending LABEL_DELAY_DAYS before (all before the
    split here) and on labels."""
    per_customer: dict[str, list[Txn]] = {}
    for tx in txs:
        per_customer.setdefault(tx.customer_id, []).append(tx)
    assert LATER_DAYS < LABEL_DELAY_DAYS

    async def run() -> None:
        gate = asyncio.Semaphore(in_flight)
        async with httpx.AsyncClient(base_url=url, timeout=60, headers=auth(key)) as client:

            async def customer(own: list[Txn]) -> None:
                for tx in own:
                    async with gate:
                        r = await client.post("/v1/score", json=payload(tx))
                    assert r.status_code == 200, r.text
                    assert r.json()["degraded"] is False

            await asyncio.gather(*(customer(own) for own in per_customer.values()))

    asyncio.run(run())


def label_through_feedback(
    client: redis.Redis, prefix: str, feedback: Server, key: str, frauds: list[Txn]
) -> pd.DataFrame:
    """Label each fraud as an analyst, a tenth overturned a second later (the latest label of a
    source wins in both paths); the labels as the service dated them. The payments are put in
    the scoring log first, as if scored before the backfill's cut: the service labels only
    payments it knows."""
    stream = scoring_log.stream_key(prefix)
    for tx in frauds:
        entry = scoring_log.encode(tx, [], 0.9, "review", "m1", False, float(tx.ts))
        client.xadd(stream, {scoring_log.FIELD: entry})
    ids = [t.transaction_id for t in frauds]
    answers = post_labels(feedback.url, key, [(t, "fraud") for t in ids])
    time.sleep(1.1)  # the overturns arrive in a later second than the labels they overturn
    answers += post_labels(feedback.url, key, [(t, "legit") for t in ids[::10]])
    arrived = [int(pd.Timestamp(a["event"]["arrived_at"]).timestamp()) for a in answers]
    return pd.DataFrame({"transaction_id": [a["transaction_id"] for a in answers],
                         "label": [a["event"]["label"] for a in answers],
                         "arrived_at": stamp(arrived)})  # fmt: skip


def wait_profiles_synced(url: str, timeout: float = 60) -> None:
    """Until the feedback service has applied every effective label to the profile store."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with psycopg.connect(url) as conn:
            row = conn.execute("SELECT count(*) FROM labels "
                               "WHERE profile_label IS DISTINCT FROM label").fetchone()  # fmt: skip
        if row is not None and row[0] == 0:
            return
        time.sleep(0.2)
    raise AssertionError("the feedback service did not apply every label to the profiles")


@pytest.fixture
def servers(
    scoring_env: dict[str, str], postgres_url: str, feedback_keys: dict[str, str],  # noqa: F811
    store_config: StoreConfig,
) -> Iterator[tuple[Server, Server]]:  # fmt: skip
    # the later payments lie up to LATER_DAYS ahead of the server's clock
    scoring = Server({**scoring_env, "FRAUDOPS_SCORING_MAX_AHEAD_S": str((LATER_DAYS + 1) * DAY)})
    try:
        feedback = Server(feedback_env(postgres_url, feedback_keys, store_config.prefix),
                          service="feedback")  # fmt: skip
    except BaseException:
        scoring.stop()
        raise
    yield scoring, feedback
    feedback.stop()
    scoring.stop()


def logged_features(
    client: redis.Redis, stream: str, wanted: set[str], timeout: float = 10
) -> dict[str, list[Any]]:
    """The features of each wanted payment as the scoring log holds them."""
    deadline = time.monotonic() + timeout
    while True:
        logged: dict[str, list[Any]] = {}
        for _, fields in client.xrange(stream):
            entry = orjson.loads(fields[scoring_log.FIELD])
            if entry["transaction_id"] in wanted:
                logged[entry["transaction_id"]] = entry["features"]
        if len(logged) == len(wanted) or time.monotonic() > deadline:
            return logged
        time.sleep(0.1)


def mismatches(logged: dict[str, list[Any]], offline: pd.DataFrame) -> dict[str, list[str]]:
    """Per feature, the payments whose logged value differs from the dataset's (as examples)."""
    numeric = {n for n in FEATURE_NAMES if n not in CATEGORICAL_FEATURES}
    out: dict[str, list[str]] = {}
    for tid, values in logged.items():
        row = [getattr(v, "item", lambda v=v: v)() for v in offline.loc[tid, list(FEATURE_NAMES)]]
        for name, a, b in zip(FEATURE_NAMES, values, row, strict=True):
            if name in numeric:
                same = abs(float(a) - float(b)) <= 1e-9 * max(1.0, abs(float(b)))
            else:
                same = a == b
            if not same:
                out.setdefault(name, []).append(f"{tid}: service {a!r} dataset {b!r}")
    return out


@pytest.mark.timeout(300)
def test_service_logged_features_equal_the_offline_dataset(
    tmp_path: Path, servers: tuple[Server, Server], redis_client: redis.Redis,
    store_config: StoreConfig, keys: dict[str, str], feedback_keys: dict[str, str],  # noqa: F811
    postgres_url: str,  # noqa: F811
) -> None:  # fmt: skip
    scoring, feedback = servers
    prefix = store_config.prefix
    history, split = moved_history(int(time.time()))
    history_path = tmp_path / "history.parquet"
    history.to_parquet(history_path, index=False)
    txns = list(iter_txns(history))
    later = sorted((t for t in txns if t.ts >= split), key=lambda t: (t.ts, t.transaction_id))
    assert len(later) >= 2000

    # the earlier part backfilled with the labels that had arrived (7 days after each fraud)
    ts = epoch_seconds(history["timestamp"])
    frauds = history[(history["is_fraud"] == 1) & (ts < split)]
    fraud_ts = epoch_seconds(frauds["timestamp"])
    past = frauds[fraud_ts + 7 * DAY < split]
    past_labels = pd.DataFrame(
        {
            "transaction_id": past["transaction_id"],
            "label": "fraud",
            "arrived_at": stamp(epoch_seconds(past["timestamp"]) + 7 * DAY),
        }
    )
    past_labels.to_csv(tmp_path / "past.csv", index=False)
    run_backfill(BackfillJob(history=str(history_path), redis_url=TEST_REDIS_URL,
                             config=store_config, as_of=split, labels=str(tmp_path / "past.csv")),
                 beam_options())  # fmt: skip

    # the last two days' frauds labelled through the feedback service now (the ones between
    # are still unlabelled)
    recent = [str(t) for t in frauds.loc[fraud_ts >= split - 2 * DAY, "transaction_id"]]
    sent = label_through_feedback(redis_client, prefix, feedback, feedback_keys["analyst"],
                                  [t for t in txns if t.transaction_id in set(recent)])  # fmt: skip
    assert (epoch_seconds(pd.to_datetime(sent["arrived_at"], utc=True)) < split).all()
    labels_path = tmp_path / "labels.csv"
    pd.concat([past_labels, sent]).to_csv(labels_path, index=False)
    wait_profiles_synced(postgres_url)

    # the later payments through POST /v1/score, in timestamp order per customer
    started = time.monotonic()
    score_in_customer_order(scoring.url, keys["score"], later)
    scored_s = time.monotonic() - started

    # what the service logged for them (the log is written a moment after the answers)
    wanted = {t.transaction_id for t in later}
    logged = logged_features(redis_client, scoring_log.stream_key(prefix), wanted)
    assert len(logged) == len(later)

    # offline: the whole history, point in time, with the labels as the feedback service dated them
    version, manifest, _ = run_dataset(
        DatasetJob(history=str(history_path), out=tmp_path / "ds", labels=str(labels_path)),
        beam_options(),
    )
    assert manifest["rows"] == len(history)
    offline = datasets.load_dataset(tmp_path / "ds", version).set_index("transaction_id")
    bad = mismatches(logged, offline)
    assert not bad, "\n".join(
        f"{name}: {len(rows)} of {len(logged)} differ, e.g. {rows[:3]}"
        for name, rows in bad.items()
    )
    # the labels reached the features: terminal risk is non-zero for many scored payments, and
    # each customer's known frauds count at least the ones still fraud among those posted
    scored = offline.loc[[t.transaction_id for t in later]]
    assert scored["terminal_risk_7day"].gt(0).sum() > 100
    effective = sent.drop_duplicates("transaction_id", keep="last")
    posted = effective[effective["label"] == "fraud"].merge(history, on="transaction_id")
    floor = scored["customer_id"].map(posted["customer_id"].value_counts()).fillna(0)
    assert floor.gt(0).sum() > 100
    assert (scored["customer_frauds_known_30day"] >= floor).all()
    print(f"{len(later)} payments scored in {scored_s:.1f} s; {len(sent)} labels sent")
