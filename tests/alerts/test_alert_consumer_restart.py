"""Kill the alerts service (SIGKILL) mid-stream while a delivery is in flight, start it again:
every alert delivered, none delivered twice, the dedup window still holding."""

from __future__ import annotations

import signal
import time

import pytest
import redis

from fraudops.profile_store.commands import StoreConfig
from tests.alerts.conftest import alerts_env, log_decision
from tests.alerts.receivers import WebhookReceiver
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
