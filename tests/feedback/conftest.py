"""The feedback service on a real database (SQLite file and PostgreSQL) and the real Redis."""

from __future__ import annotations

import json
import os
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
import pytest
import redis
from fastapi.testclient import TestClient

from fraudops.profile_store.commands import StoreConfig
from fraudops.schema import Txn
from services.common import scoring_log
from services.common.auth import new_key
from services.feedback import tokens
from tests.conftest import TEST_REDIS_URL

PG_ADMIN_URL = os.environ.get(
    "FRAUDOPS_TEST_PG_URL", "postgresql://postgres@127.0.0.1:5432/postgres"
)
SECRET = "test-secret-" + uuid.uuid4().hex


def create_pg_database() -> str:
    name = f"fo_test_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    return name


def drop_pg_database(name: str) -> None:
    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def pg_url(name: str) -> str:
    return PG_ADMIN_URL.rsplit("/", 1)[0] + "/" + name


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path: Any) -> Iterator[str]:
    """A fresh, empty database of each kind (the service migrates it at start)."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path}/feedback.db"
        return
    name = create_pg_database()
    yield pg_url(name)
    drop_pg_database(name)


@pytest.fixture
def postgres_url() -> Iterator[str]:
    name = create_pg_database()
    yield pg_url(name)
    drop_pg_database(name)


@pytest.fixture(scope="session")
def feedback_keys() -> dict[str, str]:
    made = {name: new_key(name, scopes) for name, scopes in (
        ("analyst", ["label:analyst", "labels:read"]),
        ("chargebacks", ["label:chargeback"]),
        ("psp", ["score"]),
    )}  # fmt: skip
    return {**{n: k for n, (k, _) in made.items()},
            "config": json.dumps([e for _, e in made.values()])}  # fmt: skip


def feedback_env(database_url: str, keys: dict[str, str], prefix: str) -> dict[str, str]:
    return {
        "DATABASE_URL": database_url,
        "REDIS_URL": TEST_REDIS_URL,
        "FRAUDOPS_KEY_PREFIX": prefix,
        "FRAUDOPS_FEEDBACK_API_KEYS": keys["config"],
        "FRAUDOPS_FEEDBACK_TOKEN_SECRET": SECRET,
        "FRAUDOPS_FEEDBACK_SYNC_EVERY_S": "0.1",
    }


@pytest.fixture
def feedback(
    database_url: str,
    feedback_keys: dict[str, str],
    store_config: StoreConfig,
    monkeypatch: pytest.MonkeyPatch,
) -> Iterator[TestClient]:
    for k, v in feedback_env(database_url, feedback_keys, store_config.prefix).items():
        monkeypatch.setenv(k, v)
    from services.feedback.app import create_app

    with TestClient(create_app()) as c:
        c.app_keys = feedback_keys  # type: ignore[attr-defined]
        c.app_ingest = c.app.api.state.ingestor.drain  # type: ignore[attr-defined]
        yield c


def user_token(customer_id: str, ttl: timedelta = timedelta(minutes=5), **kw: Any) -> str:
    return tokens.issue(kw.get("secret", SECRET), customer_id, datetime.now(UTC), ttl)


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def log_scored(
    client: redis.Redis,
    prefix: str,
    transaction_id: str,
    customer_id: str = "cust-1",
    terminal_id: str = "term-1",
    decision: str = "review",
    ts: int | None = None,
) -> Txn:
    """Append a scoring-log entry exactly as the scoring service does."""
    tx = Txn(transaction_id, ts or int(time.time()) - 60, customer_id, terminal_id, 12.345, "EUR",
             "5411", "FR", "ecommerce")  # fmt: skip
    entry = scoring_log.encode(tx, [1.0, "FR"], 0.7, decision, "m1", False, time.time())
    client.xadd(scoring_log.stream_key(prefix), {scoring_log.FIELD: entry})
    return tx


def label(tx_id: str, value: str = "fraud", source: str = "in_app") -> dict[str, str]:
    return {"transaction_id": tx_id, "label": value, "source": source}
