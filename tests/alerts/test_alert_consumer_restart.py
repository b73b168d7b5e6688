"""Kill the alerts service (SIGKILL) mid-stream while a delivery is in flight, start it again:
every alert delivered, none delivered twice, the dedup window still holding. Redis losing the
consumer group: created again, counted, and not-ready while the consumer keeps failing."""

from __future__ import annotations

import signal
import time

import pytest
import redis

from fraudops.profile_store.commands import StoreConfig
from services.common import scoring_log
from services.common.stream import GROUPS_RECREATED
from tests.alerts.conftest import alerts_env, log_decision
from tests.alerts.receivers import WebhookReceiver
from tests.alerts.test_alert_delivery import alerts_client
from tests.services.conftest import Server
from tests.waiting import wait_until

pytestmark = [pytest.mark.integration, pytest.mark.slow]


def test_killed_consumer_loses_nothing_and_sends_nothing_twice(
    database_url: str, store_config: StoreConfig, redis_client: redis.Redis
) -> None:
    hook = WebhookReceiver(drop_at=15)  # the 15th call hangs: the process is killed then
    env = alerts_env(
        database_url,
        store_config.prefix,
        FRAUDOPS_ALERTS_WEBHOOK_URL=hook.url,
        FRAUDOPS_ALERTS_DEDUP_WINDOW_S="600",
        FRAUDOPS_ALERTS_CLAIM_IDLE_MS="0",
        FRAUDOPS_ALERTS_BATCH="5",
        # the delivery in flight when killed is leased: tried again after the lease
        FRAUDOPS_ALERTS_WEBHOOK_TIMEOUT_S="1",
        FRAUDOPS_ALERTS_DELIVERY_LEASE_S="3",
    )
    t0 = 1_790_000_000
    expected = set()
    for i in range(40):  # 40 customers, each with a second decision inside the dedup window
        log_decision(redis_client, store_config.prefix, f"k-{i}", f"cust-{i}", ts=t0 + i)
        expected.add(f"tx:k-{i}")
    for i in range(40):
        log_decision(redis_client, store_config.prefix, f"k2-{i}", f"cust-{i}", ts=t0 + 300 + i)
    first = Server(env, service="alerts")
    try:
        assert hook.holding.wait(60), "the consumer never reached the 15th delivery"
        first.proc.send_signal(signal.SIGKILL)
        first.proc.wait(10)
    finally:
        first.stop()
    hook.release.set()  # the held call is dropped unanswered: that alert was not delivered
    delivered_before = sum(hook.delivered.values())
    assert 0 < delivered_before < len(expected)

    second = Server(env, service="alerts")
    try:
        assert wait_until(lambda: set(hook.delivered) >= expected, timeout=60), expected - set(
            hook.delivered
        )
        time.sleep(1.0)  # nothing more may come (the grouped second decisions stay silent)
    finally:
        out = second.stop()
        hook.close()
    assert set(hook.delivered) == expected
    assert max(hook.delivered.values()) == 1, [k for k, n in hook.delivered.items() if n > 1]
    assert "Traceback" not in out, out[-3000:]


def test_lost_consumer_group_is_created_again_and_a_failing_consumer_is_not_ready(
    database_url: str, store_config: StoreConfig, redis_client: redis.Redis,
    webhook: WebhookReceiver, monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    """Redis restarted without its data (or FLUSHALL, or the key evicted): the consumer creates
    its group again and alerts on what comes next; while it keeps failing, /readyz says so."""
    prefix, stream = store_config.prefix, scoring_log.stream_key(store_config.prefix)
    env = alerts_env(database_url, prefix, FRAUDOPS_ALERTS_WEBHOOK_URL=webhook.url)
    log_decision(redis_client, prefix, "n-1", "cust-1")
    with alerts_client(env, monkeypatch) as client:
        assert wait_until(lambda: "tx:n-1" in webhook.delivered)
        before = float(GROUPS_RECREATED.labels("alerts")._value.get())
        redis_client.delete(stream)  # the stream and its group are gone
        log_decision(redis_client, prefix, "n-2", "cust-2")  # the scoring service goes on
        assert wait_until(lambda: "tx:n-2" in webhook.delivered), "no alert after the loss"
        assert float(GROUPS_RECREATED.labels("alerts")._value.get()) == before + 1
        assert client.get("/readyz").json()["consumer"] is True

        redis_client.delete(stream)
        redis_client.set(stream, "not a stream")  # every read refused: the consumer keeps failing
        assert wait_until(lambda: client.get("/readyz").status_code == 503, timeout=20)
        body = client.get("/readyz").json()
        assert (body["ready"], body["database"], body["redis"], body["consumer"]) == (
            False, True, True, False,
        ), body  # fmt: skip
        assert "scoring-log consumer failing" in body["detail"]

        redis_client.delete(stream)  # freed: it recovers, alerts flow and it is ready again
        log_decision(redis_client, prefix, "n-3", "cust-3")
        assert wait_until(lambda: "tx:n-3" in webhook.delivered, timeout=20)
        assert wait_until(lambda: client.get("/readyz").status_code == 200)
    assert dict(webhook.delivered) == {"tx:n-1": 1, "tx:n-2": 1, "tx:n-3": 1}
