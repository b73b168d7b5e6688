"""Alerts from the scoring log to a real webhook server and a real SMTP server: rules, dedup per
customer, retries with backoff, dead letters, Alertmanager alerts to the same channels."""

from __future__ import annotations

import time

import pytest
import redis
from sqlalchemy import select

from fraudops.profile_store.commands import StoreConfig
from services.alerts.db import Alert, Delivery
from services.alerts.outbox import dead_letter_key
from tests.alerts.conftest import alerts_client, alerts_env, email_env, log_decision
from tests.alerts.receivers import SmtpReceiver, WebhookReceiver
from tests.waiting import wait_until

pytestmark = pytest.mark.integration


def test_decisions_to_webhook_and_email(
    database_url: str,
    store_config: StoreConfig,
    redis_client: redis.Redis,
    webhook: WebhookReceiver,
    smtp: SmtpReceiver,
    monkeypatch: pytest.MonkeyPatch,
    am_key: tuple[str, str],
) -> None:
    env = alerts_env(
        database_url,
        store_config.prefix,
        FRAUDOPS_ALERTS_WEBHOOK_URL=webhook.url,
        **email_env(smtp),
        FRAUDOPS_ALERTS_DEDUP_WINDOW_S="600",
        FRAUDOPS_ALERTS_API_KEYS=am_key[1],
    )
    p = store_config.prefix
    t0 = 1_790_000_000
    log_decision(redis_client, p, "a-1", "cust-1", decision="approve", ts=t0)  # no alert
    log_decision(redis_client, p, "a-2", "cust-1", decision="review", ts=t0 + 10)
    log_decision(redis_client, p, "a-3", "cust-1", decision="decline", ts=t0 + 20)  # deduped
    log_decision(redis_client, p, "a-4", "cust-2", decision="review", ts=t0 + 30, amount=9000)
    log_decision(redis_client, p, "a-5", "cust-1", decision="review", ts=t0 + 700)  # new window
    with alerts_client(env, monkeypatch) as client:
        state = client.app.api.state  # type: ignore[attr-defined]
        expected = {"tx:a-2", "tx:a-4", "tx:a-5"}
        # the service's consumer loop handles the stream by itself
        assert wait_until(lambda: set(webhook.delivered) == expected and len(smtp.messages) == 3)
        with state.sessions() as s:
            alerts = {a.transaction_id: a for a in s.scalars(select(Alert))}
        assert set(alerts) == {"a-2", "a-3", "a-4", "a-5"}
        assert alerts["a-3"].grouped_with == alerts["a-2"].id
        assert alerts["a-3"].severity == "page" and "large_amount" in alerts["a-4"].tags
        assert dict(webhook.delivered) == dict.fromkeys(expected, 1)
        assert {m["X-Fraudops-Alert"] for m in smtp.messages} == expected
        mail = next(m for m in smtp.messages if m["X-Fraudops-Alert"] == "tx:a-4")
        assert "9,000.00 EUR" in mail["Subject"] and "terminal_risk_7day" in mail.get_payload()
        assert any("REVIEW" in b["text"] for b in webhook.bodies)

        # a redelivered stream (consumer restarted, entries pending again) sends nothing twice
        state.consumer.redis.xgroup_setid(state.consumer.streams[0], state.consumer.group, id="0")
        assert wait_until(lambda: state.consumer.lag() == 0)
        time.sleep(0.3)
        assert dict(webhook.delivered) == dict.fromkeys(expected, 1)
        assert len(smtp.messages) == 3

        # Alertmanager's webhook: routed to the same channels, once per firing
        payload = {
            "version": "4",
            "status": "firing",
            "alerts": [
                {
                    "status": "firing",
                    "labels": {
                        "alertname": "ScoringLatencyP99High",
                        "severity": "page",
                        "service": "scoring",
                    },
                    "annotations": {"summary": "p99 above 25 ms"},
                    "startsAt": "2026-11-27T10:00:00Z",
                    "fingerprint": "abc123",
                }
            ],
        }
        h = {"Authorization": f"Bearer {am_key[0]}"}
        assert client.post("/v1/alertmanager", json=payload).status_code == 401
        r = client.post("/v1/alertmanager", json=payload, headers=h)
        assert r.status_code == 200, r.text  # durably queued: the channels' workers deliver
        key = "am:abc123:firing:2026-11-27T10:00:00Z"
        assert r.json()["delivered"] == {key: {"webhook": "pending", "email": "pending"}}
        assert wait_until(lambda: webhook.delivered[key] == 1 and len(smtp.messages) == 4)
        # a repeat of the firing reports the channels' state: "sent" once each worker recorded
        # its delivery, which it does just after the receiver answered (so: wait for it)
        sent = {key: {"webhook": "sent", "email": "sent"}}
        assert wait_until(
            lambda: (
                client.post("/v1/alertmanager", json=payload, headers=h).json()["delivered"] == sent
            )
        )
        time.sleep(0.3)
        assert webhook.delivered[key] == 1
        assert sum(m["X-Fraudops-Alert"] == key for m in smtp.messages) == 1
        assert client.post("/v1/alertmanager", json={"alerts": "x"}, headers=h).status_code == 422


def test_retries_then_dead_letter(
    database_url: str,
    store_config: StoreConfig,
    redis_client: redis.Redis,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    flaky, down = WebhookReceiver(fail_first=2), WebhookReceiver(fail_first=10**6)
    try:
        for url, tx in ((flaky.url, "r-1"), (down.url, "r-2")):
            env = alerts_env(
                database_url,
                store_config.prefix,
                FRAUDOPS_ALERTS_WEBHOOK_URL=url,
                FRAUDOPS_ALERTS_MAX_ATTEMPTS="4",
            )
            log_decision(redis_client, store_config.prefix, tx, f"cust-{tx}")
            with alerts_client(env, monkeypatch):
                assert wait_until(lambda u=url: (flaky if u == flaky.url else down).calls >= 3)
                if url == down.url:  # the dead letter, through the outbox
                    assert wait_until(
                        lambda: redis_client.xlen(dead_letter_key(store_config.prefix)) == 1
                    )
                time.sleep(0.5)
        assert flaky.calls == 3 and flaky.delivered["tx:r-1"] == 1  # two 503s, then delivered
        assert down.calls == 4 and not down.delivered  # gave up after max_attempts
        dead = redis_client.xrange(dead_letter_key(store_config.prefix))
        assert [(d[b"key"], d[b"channel"]) for _, d in dead] == [(b"tx:r-2", b"webhook")]
        assert b"503" in dead[0][1][b"error"]
    finally:
        flaky.close()
        down.close()
    from services.common.db import make_engine, session_factory

    engine = make_engine(database_url)
    with session_factory(engine)() as s:
        rows = {(d.alert_key, d.status, d.attempts) for d in s.scalars(select(Delivery))}
    engine.dispose()
    assert rows == {("tx:r-1", "sent", 3), ("tx:r-2", "dead", 4)}
