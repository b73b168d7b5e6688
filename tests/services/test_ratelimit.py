"""The Redis rate limiter (services.common.ratelimit) against the real Redis: the boundary, the
refill, expiry of idle keys, the async path over the hot path's wire, and failing open."""

from __future__ import annotations

import asyncio
import signal
import time

import pytest
import redis

from fraudops.profile_store.commands import StoreConfig
from services.common.ratelimit import UNAVAILABLE, Limited, Limits, RateLimiter
from services.scoring.wire import RedisWire
from tests.conftest import TEST_REDIS_URL
from tests.services.conftest import RedisServer

pytestmark = pytest.mark.integration


def limiter(prefix: str, limit: int, window_s: float, overrides: str = "{}") -> RateLimiter:
    return RateLimiter("test", prefix, {"key": Limits.parse(limit, window_s, overrides)})


def allowed(lim: RateLimiter, client: redis.Redis, name: str = "psp") -> bool:
    try:
        lim.enforce(client, lim.check("key", name, f"key {name}"))
    except Limited:
        return False
    return True


def test_exactly_the_limit_passes_then_429_with_retry_after(
    redis_client: redis.Redis, store_config: StoreConfig
) -> None:
    lim = limiter(store_config.prefix, 5, 60)
    assert [allowed(lim, redis_client) for _ in range(5)] == [True] * 5
    with pytest.raises(Limited) as no:
        lim.enforce(redis_client, lim.check("key", "psp", "API key 'psp'"))
    # one more request is allowed 60/5 = 12 s after the first
    assert 11 <= no.value.retry_after_s <= 12
    assert no.value.headers == {"Retry-After": str(no.value.retry_after_s)}
    assert no.value.body["rate_limit"] == {"limit": 5, "window_s": 60}
    assert "API key 'psp'" in no.value.body["detail"]
    assert allowed(lim, redis_client, "other")  # another subject has its own allowance
    key = f"{store_config.prefix}:q:{{test:key:psp}}"
    assert 0 < redis_client.pttl(key) <= 60_000  # the key expires once the allowance is full


def test_refills_after_the_window_and_retry_after_is_at_least_one_second(
    redis_client: redis.Redis, store_config: StoreConfig
) -> None:
    lim = limiter(store_config.prefix, 3, 0.3)
    assert [allowed(lim, redis_client) for _ in range(4)] == [True, True, True, False]
    with pytest.raises(Limited) as no:
        lim.enforce(redis_client, lim.check("key", "psp", "psp"))
    assert no.value.retry_after_s == 1  # 0.1 s rounded up to whole seconds, never 0
    time.sleep(0.35)
    assert [allowed(lim, redis_client) for _ in range(4)] == [True, True, True, False]
    time.sleep(0.35)
    assert not redis_client.exists(f"{store_config.prefix}:q:{{test:key:psp}}")  # expired


def test_overrides_per_key_and_off(redis_client: redis.Redis, store_config: StoreConfig) -> None:
    lim = limiter(store_config.prefix, 2, 60, '{"big": 4, "free": 0}')
    assert [allowed(lim, redis_client, "big") for _ in range(5)] == [True] * 4 + [False]
    assert all(allowed(lim, redis_client, "free") for _ in range(10))
    assert lim.check("key", "free", "free") is None  # an unlimited key costs no round trip
    assert not RateLimiter("test", "p", {"key": Limits.parse(0, 1)})  # nothing configured
    with pytest.raises(ValueError, match="JSON object"):
        Limits.parse(1, 1, '{"a": -1}')


def test_async_over_the_wire_loads_the_script_and_shares_the_count(
    redis_client: redis.Redis, store_config: StoreConfig
) -> None:
    redis_client.script_flush()  # as after a failover: the script must be loaded again
    lim = limiter(store_config.prefix, 3, 60)

    async def main() -> list[bool]:
        wire = RedisWire(TEST_REDIS_URL)
        admin = redis.asyncio.Redis.from_url(TEST_REDIS_URL)
        out = []
        try:
            for _ in range(3):
                try:
                    check = lim.check("key", "a", "a")
                    assert check is not None
                    await lim.enforce_async(wire.call, admin.script_load, check)
                    out.append(True)
                except Limited:
                    out.append(False)
        finally:
            wire.close()
            await admin.aclose()
        return out

    assert asyncio.run(main()) == [True, True, True]
    assert not allowed(lim, redis_client, "a")  # the blocking client sees the same count


def test_a_worker_leases_a_share_and_the_total_stays_exact(
    redis_client: redis.Redis, store_config: StoreConfig
) -> None:
    """Worker A leases 10 of 100 at once and spends them without a round trip; worker B (the
    blocking client, no lease) gets what is left; near the limit A's lease is partial. Together
    they get exactly the limit."""
    a = RateLimiter("test", store_config.prefix, {"key": Limits.parse(100, 60, lease_share=0.1)})
    b = limiter(store_config.prefix, 100, 60)
    sent: list[int] = []

    async def spend(n: int) -> tuple[int, int]:
        wire = RedisWire(TEST_REDIS_URL)
        admin = redis.asyncio.Redis.from_url(TEST_REDIS_URL)

        async def send(commands: list[list[object]]) -> list[object]:
            sent.append(len(commands))
            return await wire.call(commands)

        got = 0
        try:
            for _ in range(n):
                check = a.check("key", "psp", "psp")
                assert check is not None
                try:
                    await a.enforce_async(send, admin.script_load, check)
                    got += 1
                except Limited:
                    break
        finally:
            wire.close()
            await admin.aclose()
        return got, len(sent)

    assert asyncio.run(spend(10)) == (10, 1)  # one round trip for ten
    assert sum(allowed(b, redis_client) for _ in range(85)) == 85
    # A asks for 10, Redis has 5 left: a partial lease, then 429
    assert asyncio.run(spend(10)) == (5, 3)
    assert not allowed(b, redis_client)


def test_concurrent_requests_share_one_lease_request(
    redis_client: redis.Redis, store_config: StoreConfig
) -> None:
    """20 requests of one key at once with an empty lease of 10: two round trips, not 20
    (each taking a lease would hold 200 of the key's 1,000 in one worker)."""
    lim = RateLimiter(
        "test", store_config.prefix, {"key": Limits.parse(1000, 3600, lease_share=0.01)}
    )
    sent: list[int] = []

    async def main() -> None:
        wire = RedisWire(TEST_REDIS_URL)
        admin = redis.asyncio.Redis.from_url(TEST_REDIS_URL)

        async def send(commands: list[list[object]]) -> list[object]:
            sent.append(len(commands))
            return await wire.call(commands)

        async def one() -> None:
            check = lim.check("key", "psp", "psp")
            assert check is not None
            await lim.enforce_async(send, admin.script_load, check)

        try:
            await asyncio.gather(*(one() for _ in range(20)))
        finally:
            wire.close()
            await admin.aclose()

    asyncio.run(main())
    assert len(sent) == 2, sent
    assert (
        sum(allowed(limiter(store_config.prefix, 1000, 3600), redis_client) for _ in range(981))
        == 980
    )


def test_redis_down_or_hung_fails_open_counted_and_skipped_for_a_while(
    store_config: StoreConfig, own_redis: RedisServer
) -> None:
    lim = RateLimiter("test", store_config.prefix, {"key": Limits.parse(1, 60)}, cooldown_s=0.5)
    client = redis.Redis.from_url(f"redis://127.0.0.1:{own_redis.port}/0", socket_timeout=0.3)
    before = UNAVAILABLE.labels("test")._value.get()
    own_redis.proc.send_signal(signal.SIGSTOP)  # hung: the first check waits its timeout...
    try:
        started = time.monotonic()
        assert allowed(lim, client)
        assert 0.25 < time.monotonic() - started < 1.0
        started = time.monotonic()
        assert allowed(lim, client) and allowed(lim, client)  # ...the next ones skip Redis
        assert time.monotonic() - started < 0.1
    finally:
        own_redis.proc.send_signal(signal.SIGCONT)
    assert UNAVAILABLE.labels("test")._value.get() == before + 3
    time.sleep(0.5)  # the cool-down over, the limit holds again
    assert [allowed(lim, client) for _ in range(2)] == [True, False]
    own_redis.kill()  # refused: open at once
    assert allowed(lim, client)
    assert UNAVAILABLE.labels("test")._value.get() == before + 4
