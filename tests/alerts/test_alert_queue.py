"""Delivery as a queue, against the real service, database, Redis and receivers: each channel has
its own worker, so a webhook that never answers delays no email; a dead letter is written to the
outbox with its delivery's record and reaches the Redis stream, once, after Redis comes back."""

from __future__ import annotations

import json
import logging
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
import redis
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from fraudops.profile_store.commands import StoreConfig
from services.alerts.channels import Message, Webhook
from services.alerts.db import Delivery, Outbox, upgrade
from services.alerts.metrics import OUTBOX
from services.alerts.notify import Notifier
from services.alerts.outbox import dead_letter_key
from services.alerts.settings import AlertsSettings
from services.common.db import make_engine, session_factory, utcnow
from tests.alerts.conftest import alerts_client, alerts_env, email_env, log_decision
from tests.alerts.receivers import SmtpReceiver, WebhookReceiver
from tests.services.conftest import free_port
from tests.waiting import wait_until

pytestmark = pytest.mark.integration


def test_a_webhook_that_never_answers_delays_no_email(
    database_url: str,
    store_config: StoreConfig,
    redis_client: redis.Redis,
    smtp: SmtpReceiver,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    hook = WebhookReceiver(hang=True)
    env = alerts_env(
        database_url,
        store_config.prefix,
        FRAUDOPS_ALERTS_WEBHOOK_URL=hook.url,
        FRAUDOPS_ALERTS_WEBHOOK_TIMEOUT_S="0.5",
        FRAUDOPS_ALERTS_MAX_ATTEMPTS="50",
        FRAUDOPS_ALERTS_BACKOFF_MAX_S="0.2",
        **email_env(smtp),
    )
    keys = {f"tx:h-{i}" for i in range(5)}
    for i in range(5):
        log_decision(redis_client, store_config.prefix, f"h-{i}", f"cust-{i}")
    try:
        with alerts_client(env, monkeypatch) as client:
            started = time.monotonic()
            assert wait_until(lambda: len(smtp.messages) == 5, timeout=10)
            took = time.monotonic() - started
            assert took < 2.5, f"the emails took {took:.1f} s behind a hung webhook"
            assert {m["X-Fraudops-Alert"] for m in smtp.messages} == keys
            assert hook.calls >= 1 and not hook.delivered  # the webhook is still hanging

            hook.hang = False  # it recovers: every alert reaches it, once
            hook.release.set()
            assert wait_until(lambda: set(hook.delivered) == keys, timeout=15)
            state = client.app.api.state  # type: ignore[attr-defined]
            assert wait_until(lambda: _statuses(state.sessions) == {"sent"})
            time.sleep(0.3)
        assert dict(hook.delivered) == dict.fromkeys(keys, 1) and len(smtp.messages) == 5
    finally:
        hook.close()


def _statuses(sessions: sessionmaker[Session]) -> set[str]:
    with sessions() as s:
        return set(s.scalars(select(Delivery.status)))


@contextmanager
def redis_server(port: int) -> Iterator[redis.Redis]:
    """A Redis of the test's own on ``port`` (the shared one is never stopped)."""
    proc = subprocess.Popen(
        ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "",
         "--appendonly", "no"],
        stdout=subprocess.DEVNULL,
    )  # fmt: skip
    client = redis.Redis(port=port)
    try:
        assert wait_until(lambda: _pings(client), timeout=10)
        yield client
    finally:
        client.close()
        proc.terminate()
        proc.wait(10)


def _pings(client: redis.Redis) -> bool:
    try:
        return bool(client.ping())
    except redis.ConnectionError:
        return False


def test_a_dead_letter_waits_in_the_outbox_while_redis_is_away(
    database_url: str,
    store_config: StoreConfig,
    monkeypatch: pytest.MonkeyPatch,
    am_key: tuple[str, str],
) -> None:
    down = WebhookReceiver(fail_first=10**6)  # answers 503 to every call
    port = free_port()  # nobody listens yet: Redis is away
    env = alerts_env(
        database_url,
        store_config.prefix,
        REDIS_URL=f"redis://127.0.0.1:{port}/0",
        FRAUDOPS_ALERTS_WEBHOOK_URL=down.url,
        FRAUDOPS_ALERTS_MAX_ATTEMPTS="2",
        FRAUDOPS_ALERTS_API_KEYS=am_key[1],
    )
    payload = {
        "status": "firing",
        "alerts": [{"status": "firing", "labels": {"alertname": "X"}, "fingerprint": "fp-1"}],
    }
    key, stream = "am:fp-1:firing:", dead_letter_key(store_config.prefix)
    try:
        with alerts_client(env, monkeypatch) as client:
            state = client.app.api.state  # type: ignore[attr-defined]
            h = {"Authorization": f"Bearer {am_key[0]}"}
            r = client.post("/v1/alertmanager", json=payload, headers=h)
            assert r.status_code == 200, r.text
            assert wait_until(lambda: _statuses(state.sessions) == {"dead"})
            with state.sessions() as s:
                (delivery,) = s.scalars(select(Delivery))
                (row,) = s.scalars(select(Outbox))
            assert (delivery.alert_key, delivery.attempts, down.calls) == (key, 2, 2)
            assert json.loads(row.fields)["key"] == key and "503" in json.loads(row.fields)["error"]
            assert wait_until(lambda: OUTBOX._value.get() == 1)  # the backlog, while Redis is away

            with redis_server(port) as dedicated:  # Redis is back: published, once
                assert wait_until(lambda: dedicated.xlen(stream) == 1, timeout=15)
                assert wait_until(lambda: OUTBOX._value.get() == 0)
                ((_, fields),) = dedicated.xrange(stream)
                assert (fields[b"key"], fields[b"channel"]) == (key.encode(), b"webhook")
                assert fields[b"outbox_id"] == row.uid.encode()
                with state.sessions() as s:
                    assert not s.scalars(select(Outbox)).all()

                # published but not deleted (a crash in between): published again, added nothing
                with state.sessions.begin() as s:
                    s.add(Outbox(uid=row.uid, alert_key=key, fields=row.fields,
                                 created_at=utcnow()))  # fmt: skip
                assert wait_until(lambda: _outbox_empty(state.sessions), timeout=5)
                assert dedicated.xlen(stream) == 1
    finally:
        down.close()


def _outbox_empty(sessions: sessionmaker[Session]) -> bool:
    with sessions() as s:
        return not s.scalars(select(Outbox)).all()


def test_two_processes_share_a_channel_queue_and_send_nothing_twice(
    database_url: str, webhook: WebhookReceiver
) -> None:
    """Two notifiers on one database (as two processes): each delivery leased by one of them."""
    engine = make_engine(database_url)
    upgrade(engine)
    sessions = session_factory(engine)
    s = AlertsSettings(backoff_s=0.01)
    a, b = (Notifier([Webhook(webhook.url, 2.0)], sessions, s, utcnow) for _ in range(2))
    keys = {f"am:share-{i}" for i in range(40)}
    for key in keys:
        assert a.send(Message(key, "title", ("line",), "ticket")) == {"webhook": "pending"}
    log = logging.getLogger("test")
    a.start(log)
    b.start(log)
    try:
        assert wait_until(lambda: _statuses(sessions) == {"sent"}, timeout=20)
    finally:
        a.stop()
        b.stop()
        engine.dispose()
    assert dict(webhook.delivered) == dict.fromkeys(keys, 1)
    assert webhook.calls == 40
