"""The served HTTP protocol's limits on a real server: slow or oversized requests are closed."""

from __future__ import annotations

import json
import socket
import time
from collections.abc import Iterator

import pytest

from tests.services.conftest import PAYMENT, Server

pytestmark = pytest.mark.integration


@pytest.fixture
def guarded(scoring_env: dict[str, str]) -> Iterator[Server]:
    s = Server({**scoring_env, "FRAUDOPS_HTTP_REQUEST_TIMEOUT_S": "1"})
    yield s
    assert "Traceback" not in s.stop()


def connect(server: Server) -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", server.port), timeout=5)
    return sock


def read_until_closed(sock: socket.socket) -> bytes:
    data = b""
    while chunk := sock.recv(65536):
        data += chunk
    return data


def request(key: str, tx_id: str) -> bytes:
    body = json.dumps({**PAYMENT, "transaction_id": tx_id}).encode()
    return (b"POST /v1/score HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\n"
            b"Authorization: Bearer %s\r\nContent-Length: %d\r\n\r\n%s"
            % (key.encode(), len(body), body))  # fmt: skip


@pytest.mark.parametrize(
    "sent",
    [
        b"",  # connected, nothing sent
        b"POST /v1/score HTTP/1.1\r\nHost: t\r\nContent-Le",  # headers never finished
        # with a key: the application reads the body and waits for the rest of it
        b"POST /v1/score HTTP/1.1\r\nHost: t\r\nAuthorization: Bearer KEY\r\n"
        b'Content-Length: 100\r\n\r\n{"transaction',
    ],
    ids=["idle", "partial-headers", "partial-body"],
)
def test_a_request_that_never_completes_is_closed(
    guarded: Server, keys: dict[str, str], sent: bytes
) -> None:
    with connect(guarded) as sock:
        started = time.monotonic()
        sock.sendall(sent.replace(b"KEY", keys["score"].encode()))
        answer = read_until_closed(sock)
        waited = time.monotonic() - started
    assert answer.startswith(b"HTTP/1.1 408 "), answer[:80]
    assert 0.9 <= waited < 4, waited


def test_headers_past_the_limit_are_refused(guarded: Server) -> None:
    with connect(guarded) as sock:  # 33 KiB of one header, never finished
        sock.sendall(b"POST /v1/score HTTP/1.1\r\nHost: t\r\nX-Big: " + b"a" * 33 * 1024)
        answer = read_until_closed(sock)
    assert answer.startswith(b"HTTP/1.1 431 "), answer[:80]


def test_ordinary_clients_are_not_cut_off(guarded: Server, keys: dict[str, str]) -> None:
    with connect(guarded) as sock:
        sock.sendall(request(keys["score"], "lim-1"))
        assert sock.recv(65536).startswith(b"HTTP/1.1 200 ")
        time.sleep(1.5)  # idle between requests past the request timeout: keep-alive (5 s) rules
        sock.sendall(request(keys["score"], "lim-2") + request(keys["score"], "lim-3"))
        answers = b""
        while answers.count(b"HTTP/1.1 200 ") < 2:
            answers += sock.recv(65536)
        # a request sent slowly but completed within the timeout is answered
        head, _, rest = request(keys["score"], "lim-4").partition(b"\r\n\r\n")
        for part in (head[:20], head[20:] + b"\r\n\r\n", rest[:10], rest[10:]):
            sock.sendall(part)
            time.sleep(0.2)
        assert sock.recv(65536).startswith(b"HTTP/1.1 200 ")
