"""The hot path's pipelined Redis connection against real Redis servers."""

from __future__ import annotations

import asyncio
import signal
import time
from collections.abc import Callable, Coroutine
from typing import Any

import pytest
import redis
from redis.exceptions import AuthenticationError, ConnectionError, NoScriptError, ResponseError

from services.scoring.wire import RedisWire
from tests.conftest import TEST_REDIS_URL
from tests.services.conftest import RedisServer, free_port

pytestmark = pytest.mark.integration


def run(main: Callable[[], Coroutine[Any, Any, None]]) -> None:
    asyncio.run(main())


def test_concurrent_callers_get_their_own_replies_in_order() -> None:
    async def main() -> None:
        wire = RedisWire(TEST_REDIS_URL)

        async def one(i: int) -> None:
            await asyncio.sleep(i % 7 * 0.001)
            replies = await wire.call([["ECHO", f"a{i}"], ["ECHO", f"b{i}"], ["PING"]])
            assert replies == [f"a{i}".encode(), f"b{i}".encode(), b"PONG"]

        await asyncio.gather(*(one(i) for i in range(300)))
        wire.close()

    run(main)


def test_error_replies_are_exceptions_in_place() -> None:
    async def main() -> None:
        wire = RedisWire(TEST_REDIS_URL)
        key = f"wire-test-{time.time_ns()}"
        replies = await wire.call([["SET", key, "x", "EX", 10], ["EVALSHA", "0" * 40, 0],
                                   ["INCR", key], ["MULTI"], ["INCR", key], ["EXEC"],
                                   ["GET", key]])  # fmt: skip
        assert replies[0] == b"OK"
        assert isinstance(replies[1], NoScriptError)
        assert isinstance(replies[2], ResponseError) and "not an integer" in str(replies[2])
        assert replies[3:5] == [b"OK", b"QUEUED"]
        assert isinstance(replies[5], list) and isinstance(replies[5][0], ResponseError)
        assert replies[6] == b"x"
        wire.close()

    run(main)


def test_a_caller_past_its_budget_does_not_shift_the_next_replies() -> None:
    async def main() -> None:
        wire = RedisWire(TEST_REDIS_URL)
        key = f"wire-empty-{time.time_ns()}"
        with pytest.raises(TimeoutError):
            async with asyncio.timeout(0.05):  # BLPOP holds the connection for 0.3 s
                await wire.call([["BLPOP", key, 0.3]])
        assert await wire.call([["ECHO", "after"]]) == [b"after"]
        wire.close()

    run(main)


def test_password_and_database_from_the_url() -> None:
    server = RedisServer(free_port(), password="s3cret")
    try:

        async def main() -> None:
            wire = RedisWire(f"redis://:s3cret@127.0.0.1:{server.port}/3")
            assert await wire.call([["SET", "in-db-3", "yes"]]) == [b"OK"]
            wire.close()
            with pytest.raises(AuthenticationError):
                await RedisWire(f"redis://:wrong@127.0.0.1:{server.port}/0").call([["PING"]])

        run(main)
        assert redis.Redis(port=server.port, password="s3cret", db=3).get("in-db-3") == b"yes"
        assert redis.Redis(port=server.port, password="s3cret", db=0).get("in-db-3") is None
    finally:
        server.kill()


def test_killed_hung_and_restarted_redis(own_redis: RedisServer) -> None:
    async def main() -> None:
        wire = RedisWire(f"redis://127.0.0.1:{own_redis.port}/0", dead_after_s=0.3)
        assert await wire.call([["PING"]]) == [b"PONG"]

        own_redis.kill()  # the waiting caller fails at once, the next is refused
        with pytest.raises((ConnectionError, OSError)):
            async with asyncio.timeout(2):
                await wire.call([["PING"]])
        with pytest.raises((ConnectionError, OSError)):
            async with asyncio.timeout(2):
                await wire.call([["PING"]])
        own_redis.start()
        assert await wire.call([["PING"]]) == [b"PONG"]  # connects again by itself

        own_redis.proc.send_signal(signal.SIGSTOP)  # hung: no reply, no error
        try:
            for _ in range(2):
                with pytest.raises(TimeoutError):
                    async with asyncio.timeout(0.1):
                        await wire.call([["PING"]])
            await asyncio.sleep(0.3)
            hung = wire._protocol
            with pytest.raises(TimeoutError):  # past dead_after_s: a new connection is tried
                async with asyncio.timeout(0.1):
                    await wire.call([["PING"]])
            assert wire._protocol is not hung
        finally:
            own_redis.proc.send_signal(signal.SIGCONT)
        async with asyncio.timeout(2):
            assert await wire.call([["ECHO", "back"]]) == [b"back"]
        wire.close()

    run(main)
