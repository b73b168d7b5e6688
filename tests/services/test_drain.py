"""SIGTERM drains a real server (services.common.drain): /readyz turns 503 at once, new
connections are still served for the drain delay, a request in flight when the listener closes
is answered and its answer stored, and the process exits 0."""

from __future__ import annotations

import json
import signal
import socket
import time
from pathlib import Path

import httpx
import pytest
import redis

from fraudops.profile_store import layout
from fraudops.profile_store.commands import StoreConfig
from tests.conftest import TEST_REDIS_URL
from tests.services.conftest import PAYMENT, Server, auth
from tests.waiting import wait_until

# make test-fleet runs these too (the alerts case only there)
pytestmark = [pytest.mark.integration, pytest.mark.slow, pytest.mark.fleet]
DRAIN_S = 1.5


def half_sent(port: int, key: str, payment: dict[str, str]) -> tuple[socket.socket, bytes]:
    """A score request whose head and half its body are sent: in flight until the rest comes."""
    body = json.dumps(payment).encode()
    head = (
        f"POST /v1/score HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {key}\r\n"
        f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
    ).encode()
    sock = socket.create_connection(("127.0.0.1", port))
    sock.sendall(head + body[: len(body) // 2])
    return sock, body[len(body) // 2 :]


def test_sigterm_drains_then_exits_0(
    scoring_env: dict[str, str], keys: dict[str, str], store_config: StoreConfig,
    redis_client: redis.Redis,
) -> None:  # fmt: skip
    server = Server({**scoring_env, "FRAUDOPS_DRAIN_S": str(DRAIN_S)})
    try:
        assert wait_until(lambda: httpx.get(server.url + "/readyz").status_code == 200, 30)
        in_flight, rest = half_sent(server.port, keys["score"], {**PAYMENT, "transaction_id": "f"})
        time.sleep(0.2)  # the server has read the head: the request is in flight
        t0 = time.monotonic()
        server.proc.send_signal(signal.SIGTERM)
        while (ready := httpx.get(server.url + "/readyz")).status_code == 200:
            assert time.monotonic() - t0 < 0.1, "/readyz still 200 100 ms after SIGTERM"
        assert ready.status_code == 503 and "draining" in ready.json()["detail"]

        during = httpx.post(  # a new connection, still accepted and served during the drain
            server.url + "/v1/score", headers=auth(keys["score"]),
            json={**PAYMENT, "transaction_id": "during"},
        )  # fmt: skip
        assert time.monotonic() - t0 < DRAIN_S
        assert during.status_code == 200 and during.headers["connection"] == "close"

        def refused() -> bool:
            try:
                httpx.get(server.url + "/healthz", timeout=1)
            except httpx.ConnectError:
                return True
            return False

        assert wait_until(refused, DRAIN_S + 5)  # the drain is over: the listener closed
        assert time.monotonic() - t0 >= DRAIN_S
        assert server.proc.poll() is None  # waiting for the request in flight
        in_flight.sendall(rest)
        answer = in_flight.recv(65536).decode()
        in_flight.close()
        assert answer.startswith("HTTP/1.1 200"), answer
        assert server.proc.wait(20) == 0
    finally:
        output = server.stop()
    assert "draining for 1.5 s" in output
    for tx in ("f", "during"):  # the answer writer flushed before the exit
        assert redis_client.exists(layout.answer_key(store_config.prefix, tx)), tx


@pytest.mark.parametrize(
    "service", ["feedback", pytest.param("alerts", marks=pytest.mark.extended)]
)
def test_every_service_drains_under_the_worker_supervisor(
    service: str, tmp_path: Path, store_config: StoreConfig
) -> None:
    """Two workers: the supervisor passes SIGTERM on at once; each worker drains, all exit 0."""
    env = {
        "DATABASE_URL": f"sqlite:///{tmp_path}/{service}.db",
        "REDIS_URL": TEST_REDIS_URL,
        "FRAUDOPS_KEY_PREFIX": store_config.prefix,
        "FRAUDOPS_DRAIN_S": "1",
    }
    server = Server(env, workers=2, service=service)
    try:
        started = lambda: b"".join(server._chunks).count(b"startup complete") == 2  # noqa: E731
        assert wait_until(started, 30)  # both workers (one may still start after the first)
        t0 = time.monotonic()
        server.proc.send_signal(signal.SIGTERM)
        assert wait_until(lambda: httpx.get(server.url + "/readyz").status_code == 503, 1)
        assert time.monotonic() - t0 < 0.5  # the supervisor polls every 0.2 s: not waited for
        assert httpx.get(server.url + "/healthz").headers["connection"] == "close"
        assert server.proc.wait(20) == 0
    finally:
        output = server.stop()
    assert output.count("draining for 1.0 s") == 2, output
