"""The alerts service against the real Redis, a real database and real channel receivers."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
import redis
from fastapi.testclient import TestClient

from fraudops.schema import Txn
from services.common import scoring_log
from services.common.auth import new_key
from tests.alerts.receivers import SmtpReceiver, WebhookReceiver
from tests.conftest import TEST_REDIS_URL
from tests.feedback.conftest import database_url, feedback_keys, postgres_url  # noqa: F401

SESSION_SECRET = "console-session-secret-for-tests-only-0123456789"


def log_decision(
    client: redis.Redis,
    prefix: str,
    tx_id: str,
    customer: str,
    terminal: str = "term-1",
    decision: str = "review",
    score: float = 0.8,
    amount: float = 120.0,
    ts: int | None = None,
) -> None:
    """A scoring-log entry as the scoring service writes it."""
    tx = Txn(
        tx_id, ts or 1_790_000_000, customer, terminal, amount, "EUR", "5411", "FR", "ecommerce"
    )
    reasons = [
        {"feature": "terminal_risk_7day", "value": 0.4, "contribution": 1.2},
        {"feature": "tx_amount", "value": amount, "contribution": 0.7},
    ]
    entry = scoring_log.encode(
        tx, [amount, 0, 1], score, decision, "m1", False, time.time(), reasons
    )
    client.xadd(scoring_log.stream_key(prefix), {scoring_log.FIELD: entry})


def alerts_env(database_url: str, prefix: str, **extra: str) -> dict[str, str]:  # noqa: F811
    return {
        "DATABASE_URL": database_url,
        "REDIS_URL": TEST_REDIS_URL,
        "FRAUDOPS_KEY_PREFIX": prefix,
        "FRAUDOPS_ALERTS_SESSION_SECRET": SESSION_SECRET,
        "FRAUDOPS_ALERTS_BACKOFF_S": "0.05",
        "FRAUDOPS_ALERTS_BLOCK_MS": "200",
        **extra,
    }


def email_env(smtp: SmtpReceiver) -> dict[str, str]:
    """The email channel's settings, to the SMTP receiver."""
    return {
        "FRAUDOPS_ALERTS_SMTP_HOST": "127.0.0.1",
        "FRAUDOPS_ALERTS_SMTP_PORT": str(smtp.port),
        "FRAUDOPS_ALERTS_EMAIL_TO": '["fraud-team@example.com"]',
    }


@pytest.fixture
def webhook() -> Iterator[WebhookReceiver]:
    r = WebhookReceiver()
    yield r
    r.close()


@pytest.fixture
def smtp() -> Iterator[SmtpReceiver]:
    r = SmtpReceiver()
    yield r
    r.close()


@contextmanager
def alerts_client(env: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> Iterator[TestClient]:
    for k, v in env.items():
        monkeypatch.setenv(k, v)
    from services.alerts.app import create_app

    with TestClient(create_app()) as c:
        yield c


@pytest.fixture
def am_key() -> tuple[str, str]:
    """(a key with the scope alertmanager, FRAUDOPS_ALERTS_API_KEYS holding it)"""
    key, entry = new_key("alertmanager", ["alertmanager"])
    return key, json.dumps([entry])
