"""Retention: the scoring log (stream and database, with its labels) is kept for its configured
period only; Redis profiles and stored answers carry their configured TTLs."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import redis
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from fraudops.profile_store.commands import StoreConfig
from fraudops.profile_store.layout import entity_key
from fraudops.schema import Txn
from services.common import scoring_log
from services.feedback import store
from services.feedback.db import (
    EffectiveLabel,
    LabelEvent,
    ScoredTransaction,
    make_engine,
    session_factory,
    upgrade,
)
from services.feedback.retention import purge_scoring_log
from tests.feedback.conftest import database_url, feedback_env, feedback_keys  # noqa: F401
from tests.services.conftest import PAYMENT, auth
from tests.waiting import wait_until

pytestmark = pytest.mark.integration
NOW = datetime.now(UTC).replace(microsecond=0)


def scored(tx_id: str, at: datetime) -> dict[str, object]:
    return {"transaction_id": tx_id, "timestamp": at - timedelta(seconds=1),
            "customer_id": "cust-1", "terminal_id": "term-1", "amount": 10, "currency": "EUR",
            "mcc": "5411", "country": "FR", "channel": "ecommerce", "score": 0.1,
            "decision": "approve", "model_version": "m1", "degraded": False, "features": "[]",
            "scored_at": at}  # fmt: skip


def log_entry_at(client: redis.Redis, prefix: str, tx_id: str, at: datetime) -> None:
    tx = Txn(tx_id, int(at.timestamp()) - 1, "cust-1", "term-1", 10.0, "EUR", "5411", "FR", "web")
    entry = scoring_log.encode(tx, [], 0.1, "approve", "m1", False, at.timestamp())
    client.xadd(scoring_log.stream_key(prefix), {scoring_log.FIELD: entry},
                id=f"{int(at.timestamp() * 1000)}-0")  # fmt: skip


def counts(sessions: object) -> tuple[int, int, int]:
    with sessions() as s:  # type: ignore[operator]
        return tuple(  # type: ignore[return-value]
            s.scalar(select(func.count()).select_from(t))
            for t in (ScoredTransaction, LabelEvent, EffectiveLabel)
        )


def test_purge_removes_only_what_is_older_than_the_period(
    database_url: str,  # noqa: F811
    redis_client: redis.Redis,
    store_config: StoreConfig,
) -> None:
    engine = make_engine(database_url)
    upgrade(engine)
    sessions = session_factory(engine)
    ages = [500, 450, 420, 401, 399, 30, 1]  # days; the period is 400
    with sessions.begin() as s:
        store.insert_scored(s, [scored(f"r-{a}", NOW - timedelta(days=a)) for a in ages])
    with sessions.begin() as s:
        for a in ages:  # every payment labelled, two of them twice
            store.record_label(s, f"r-{a}", "fraud", "in_app", "user:cust-1", NOW)
        for a in (450, 30):
            store.record_label(s, f"r-{a}", "legit", "analyst", "ana", NOW)
    for a in ages:
        log_entry_at(redis_client, store_config.prefix, f"r-{a}", NOW - timedelta(days=a))
    assert counts(sessions) == (7, 9, 7)

    removed = purge_scoring_log(sessions, redis_client, store_config.prefix,
                                NOW - timedelta(days=400), batch=3)  # fmt: skip
    assert dict(removed) == {"scoring_log_entries": 4, "scored_transactions": 4,
                             "label_events": 5, "labels": 4}  # fmt: skip
    with sessions() as s:
        assert set(s.scalars(select(ScoredTransaction.transaction_id))) == {
            "r-399", "r-30", "r-1"}  # fmt: skip
    assert counts(sessions) == (3, 4, 3)
    entries = redis_client.xrange(scoring_log.stream_key(store_config.prefix))
    kept = [scoring_log.decode(f[scoring_log.FIELD])["transaction_id"] for _, f in entries]
    assert kept == ["r-399", "r-30", "r-1"]
    again = purge_scoring_log(sessions, redis_client, store_config.prefix,
                              NOW - timedelta(days=400))  # fmt: skip
    assert sum(again.values()) == 0
    engine.dispose()


def test_the_feedback_service_applies_its_configured_retention(
    tmp_path: Path,
    feedback_keys: dict[str, str],  # noqa: F811
    redis_client: redis.Redis,
    store_config: StoreConfig,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    url = f"sqlite:///{tmp_path}/feedback.db"
    env = {**feedback_env(url, feedback_keys, store_config.prefix),
           "FRAUDOPS_FEEDBACK_SCORING_LOG_RETENTION_DAYS": "30",
           "FRAUDOPS_FEEDBACK_RETENTION_EVERY_S": "0.2"}  # fmt: skip
    for k, v in env.items():
        monkeypatch.setenv(k, v)
    from services.feedback.app import create_app

    with TestClient(create_app()) as c:
        sessions = c.app.api.state.sessions  # type: ignore[attr-defined]
        with sessions.begin() as s:
            store.insert_scored(s, [scored("old", NOW - timedelta(days=31)),
                                    scored("recent", NOW - timedelta(days=29))])  # fmt: skip
        log_entry_at(redis_client, store_config.prefix, "old", NOW - timedelta(days=31))

        def purged() -> bool:
            with sessions() as s:
                return set(s.scalars(select(ScoredTransaction.transaction_id))) == {"recent"}

        assert wait_until(purged, timeout=10)
        stream = scoring_log.stream_key(store_config.prefix)
        assert wait_until(lambda: redis_client.xlen(stream) == 0, timeout=5)


def test_profiles_and_stored_answers_carry_the_configured_ttls(
    scoring_env: dict[str, str],
    keys: dict[str, str],
    store_config: StoreConfig,
    redis_client: redis.Redis,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    env = {**scoring_env, "FRAUDOPS_PROFILE_TTL_S": "5000", "FRAUDOPS_DEDUP_TTL_S": "700"}
    for k, v in env.items():
        monkeypatch.setenv(k, v)
    from services.scoring.app import create_app

    with TestClient(create_app()) as c:
        r = c.post("/v1/score", json={**PAYMENT, "transaction_id": "ttl-1"},
                   headers=auth(keys["score"]))  # fmt: skip
        assert r.status_code == 200, r.text
    prefix = store_config.prefix
    answer = f"{prefix}:r:ttl-1"
    assert wait_until(lambda: redis_client.exists(answer), timeout=5)
    for kind, entity in (("customer", "cust-1"), ("terminal", "term-1")):
        assert 4900 < redis_client.ttl(entity_key(prefix, kind, entity)) <= 5000
    assert 600 < redis_client.ttl(answer) <= 700
    assert 600 < redis_client.ttl(f"{prefix}:c:{{cust-1}}:x:ttl-1") <= 700
