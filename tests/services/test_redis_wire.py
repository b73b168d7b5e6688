"""The hot path's pipelined Redis connection against real Redis servers."""

from __future__ import annotations

import asyncio
import signal
import ssl
import subprocess
import time
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any

import pytest
import redis
from redis.exceptions import AuthenticationError, ConnectionError, NoScriptError, ResponseError

from fraudops.profile_store.commands import StoreConfig
from services.scoring.wire import RedisWire
from tests.conftest import TEST_REDIS_URL
from tests.services.conftest import RedisServer, free_port, wait_for_redis

pytestmark = pytest.mark.integration


def run(main: Callable[[RedisWire], Coroutine[Any, Any, None]], url: str, **options: float) -> None:
    """``main`` with a connection to ``url``, closed however ``main`` ends."""

    async def body() -> None:
        wire = RedisWire(url, **options)
        try:
            await main(wire)
        finally:
            wire.close()

    asyncio.run(body())


def test_concurrent_callers_get_their_own_replies_in_order() -> None:
    async def main(wire: RedisWire) -> None:

        async def one(i: int) -> None:
            await asyncio.sleep(i % 7 * 0.001)
            replies = await wire.call([["ECHO", f"a{i}"], ["ECHO", f"b{i}"], ["PING"]])
            assert replies == [f"a{i}".encode(), f"b{i}".encode(), b"PONG"]

        await asyncio.gather(*(one(i) for i in range(300)))

    run(main, TEST_REDIS_URL)


def test_error_replies_are_exceptions_in_place() -> None:
    async def main(wire: RedisWire) -> None:
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

    run(main, TEST_REDIS_URL)


def test_a_caller_past_its_budget_does_not_shift_the_next_replies() -> None:
    async def main(wire: RedisWire) -> None:
        key = f"wire-empty-{time.time_ns()}"
        with pytest.raises(TimeoutError):
            async with asyncio.timeout(0.05):  # BLPOP holds the connection for 0.3 s
                await wire.call([["BLPOP", key, 0.3]])
        assert await wire.call([["ECHO", "after"]]) == [b"after"]

    run(main, TEST_REDIS_URL)


def test_password_and_database_from_the_url() -> None:
    server = RedisServer(free_port(), password="s3cret")
    try:

        async def main(wire: RedisWire) -> None:
            assert await wire.call([["SET", "in-db-3", "yes"]]) == [b"OK"]
            with pytest.raises(AuthenticationError):
                await RedisWire(f"redis://:wrong@127.0.0.1:{server.port}/0").call([["PING"]])

        run(main, f"redis://:s3cret@127.0.0.1:{server.port}/3")
        assert redis.Redis(port=server.port, password="s3cret", db=3).get("in-db-3") == b"yes"
        assert redis.Redis(port=server.port, password="s3cret", db=0).get("in-db-3") is None
    finally:
        server.kill()


def test_killed_hung_and_restarted_redis(own_redis: RedisServer) -> None:
    async def main(wire: RedisWire) -> None:
        assert await wire.call([["PING"]]) == [b"PONG"]

        waiting = asyncio.ensure_future(wire.call([["BLPOP", "nothing-here", 30]]))
        await asyncio.sleep(0.1)
        own_redis.kill()  # the waiting caller fails at once, the next is refused
        with pytest.raises(ConnectionError):
            async with asyncio.timeout(2):
                await waiting
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

    run(main, f"redis://127.0.0.1:{own_redis.port}/0", dead_after_s=0.3)


def test_callers_that_give_up_while_connecting_share_one_connection(tmp_path: Path) -> None:
    """A hung Redis with a password: callers time out during AUTH, and none of them leaves a
    connection of its own behind; the one connection attempt finishes once Redis answers."""
    server = RedisServer(free_port(), password="pw")
    check = redis.Redis(port=server.port, password="pw")
    before = len(check.client_list())
    try:
        server.proc.send_signal(signal.SIGSTOP)

        async def main(wire: RedisWire) -> None:
            for _ in range(20):
                with pytest.raises(TimeoutError):
                    async with asyncio.timeout(0.05):
                        await wire.call([["PING"]])
            server.proc.send_signal(signal.SIGCONT)
            async with asyncio.timeout(5):
                assert await wire.call([["PING"]]) == [b"PONG"]
            assert len(check.client_list()) == before + 1  # the wire's one connection

        run(main, f"redis://:pw@127.0.0.1:{server.port}/0", connect_timeout_s=5)
    finally:
        server.proc.send_signal(signal.SIGCONT)
        server.kill()


def test_unix_socket_url(tmp_path: Path) -> None:
    path = tmp_path / "redis.sock"
    server = RedisServer(free_port(), extra=("--unixsocket", str(path)))
    try:

        async def main(wire: RedisWire) -> None:
            assert await wire.call([["SET", "via-unix", "1"], ["GET", "via-unix"]]) == [b"OK", b"1"]

        run(main, f"unix://{path}?db=2")
        assert redis.Redis(port=server.port, db=2).get("via-unix") == b"1"
    finally:
        server.kill()


def _certificates(d: Path) -> None:
    """A CA and a server certificate for localhost, made with the openssl CLI."""

    def ossl(*args: str) -> None:
        subprocess.run(["openssl", *args], cwd=d, check=True, capture_output=True)

    ossl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "ca.key", "-out", "ca.crt",
         "-days", "2", "-subj", "/CN=fraudops-test-ca")  # fmt: skip
    ossl("req", "-newkey", "rsa:2048", "-nodes", "-keyout", "server.key", "-out", "server.csr",
         "-subj", "/CN=localhost")  # fmt: skip
    (d / "ext.cnf").write_text("subjectAltName=DNS:localhost,IP:127.0.0.1\n")
    ossl("x509", "-req", "-in", "server.csr", "-CA", "ca.crt", "-CAkey", "ca.key",
         "-CAcreateserial", "-out", "server.crt", "-days", "2", "-extfile", "ext.cnf")  # fmt: skip


def test_tls_with_the_certificate_options_of_the_url(tmp_path: Path) -> None:
    _certificates(tmp_path)
    port = free_port()
    proc = subprocess.Popen(["redis-server", "--port", "0", "--tls-port", str(port),
                             "--tls-cert-file", "server.crt", "--tls-key-file", "server.key",
                             "--tls-ca-cert-file", "ca.crt", "--tls-auth-clients", "yes",
                             "--save", "", "--appendonly", "no", "--bind", "127.0.0.1"],
                            cwd=tmp_path, stdout=subprocess.DEVNULL)  # fmt: skip
    ca = tmp_path / "ca.crt"
    # Redis asks for a client certificate: the CA-signed one (it carries no usage limit)
    mine = {
        "ssl_certfile": str(tmp_path / "server.crt"),
        "ssl_keyfile": str(tmp_path / "server.key"),
    }
    query = "&".join(f"{k}={v}" for k, v in mine.items())
    try:
        wait_for_redis(redis.Redis(port=port, ssl=True, ssl_ca_certs=str(ca), **mine))

        async def main(wire: RedisWire) -> None:
            assert await wire.call([["SET", "over-tls", "1"]]) == [b"OK"]
            unchecked = RedisWire(f"rediss://127.0.0.1:{port}/0?ssl_cert_reqs=none&{query}")
            assert await unchecked.call([["GET", "over-tls"]]) == [b"1"]
            unchecked.close()
            with pytest.raises(ssl.SSLError):  # the system CAs do not know this server
                await RedisWire(f"rediss://localhost:{port}/0?{query}").call([["PING"]])

        run(main, f"rediss://localhost:{port}/0?ssl_ca_certs={ca}&{query}")
    finally:
        proc.kill()
        proc.wait()


def test_a_lost_script_resends_only_what_it_failed(
    own_redis: RedisServer, store_config: StoreConfig
) -> None:
    """Writes behind the answer and the degraded replay mix XADDs with the profile update: when
    Redis lost the script (restart, promoted replica), only the update is sent again."""
    from fraudops.profile_store.commands import tx_commands
    from fraudops.schema import Txn
    from services.scoring.breaker import Breaker
    from services.scoring.profiles import ProfileReader, failed

    url = f"redis://127.0.0.1:{own_redis.port}/0"
    tx = Txn("lost-1", 1_790_000_000, "c-lost", "t-lost", 12.5, "EUR", "5411", "FR", "ecommerce")
    commands: list[list[Any]] = [["XADD", "log", "*", "d", "entry"], *tx_commands(store_config, tx)]

    async def main() -> list[Any]:
        import redis.asyncio as aredis

        wire, admin = RedisWire(url), aredis.Redis.from_url(url)
        reader = ProfileReader(wire=wire, admin=admin, cfg=store_config, breaker=Breaker(0.5))
        try:
            return await reader.write_each(commands, 2.0)
        finally:
            wire.close()
            await admin.aclose()

    client = redis.Redis(port=own_redis.port)
    client.script_flush()
    replies = asyncio.run(main())
    assert not [r for r in replies if failed(r)], replies
    assert client.xlen("log") == 1  # sent once, although the update was sent twice
    assert client.hget(f"{store_config.prefix}:c:{{c-lost}}", "last") == b"1790000000"
