"""The served HTTP protocol's limits on a real server: slow or oversized requests are closed,
ordinary ones (large bodies, pipelining, keep-alive, slow senders) are not."""

from __future__ import annotations

import json
import socket
import time
from collections.abc import Iterator

import pytest

from tests.services.conftest import PAYMENT, Server

pytestmark = pytest.mark.integration
TIMEOUT_S = 2.0


@pytest.fixture
def guarded(scoring_env: dict[str, str]) -> Iterator[Server]:
    s = Server({**scoring_env, "FRAUDOPS_HTTP_REQUEST_TIMEOUT_S": str(TIMEOUT_S)})
    yield s
    assert "Traceback" not in s.stop()


def connect(server: Server) -> socket.socket:
    return socket.create_connection(("127.0.0.1", server.port), timeout=10)


def read_until_closed(sock: socket.socket) -> bytes:
    data = b""
    while chunk := sock.recv(65536):
        data += chunk
    return data


def read_responses(sock: socket.socket, n: int) -> list[bytes]:
    """``n`` whole responses (status line .. end of body, by Content-Length)."""
    data, out = b"", []
    while len(out) < n:
        head_end = data.find(b"\r\n\r\n")
        if head_end >= 0:
            head = data[:head_end].lower()
            length = int(head.split(b"content-length: ")[1].split(b"\r\n")[0])
            end = head_end + 4 + length
            if len(data) >= end:
                out.append(data[:end])
                data = data[end:]
                continue
        chunk = sock.recv(65536)
        assert chunk, f"closed after {len(out)} of {n} responses"
        data += chunk
    return out


def post(key: str, path: str, body: object) -> bytes:
    raw = json.dumps(body).encode()
    return (b"POST %s HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\n"
            b"Authorization: Bearer %s\r\nContent-Length: %d\r\n\r\n%s"
            % (path.encode(), key.encode(), len(raw), raw))  # fmt: skip


def score(key: str, tx_id: str) -> bytes:
    return post(key, "/v1/score", {**PAYMENT, "transaction_id": tx_id})


@pytest.mark.parametrize(
    "sent",
    [
        b"",  # connected, nothing sent
        b"POST /v1/score HTTP/1.1\r\nHost: t\r\nContent-Le",  # headers never finished
        # with a key: the application reads the body and waits for the rest of it
        b"POST /v1/score HTTP/1.1\r\nHost: t\r\nAuthorization: Bearer KEY\r\n"
        b'Content-Type: application/json\r\nContent-Length: 100\r\n\r\n{"transaction',
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
    assert TIMEOUT_S - 0.1 <= waited < TIMEOUT_S + 3, waited


def test_headers_past_the_limit_are_refused(guarded: Server, keys: dict[str, str]) -> None:
    with connect(guarded) as sock:  # a finished head: measured exactly
        sock.sendall(score(keys["score"], "lim-0"))  # on a connection already used
        assert read_responses(sock, 1)[0].startswith(b"HTTP/1.1 200 ")
        sock.sendall(
            b"GET /healthz HTTP/1.1\r\nHost: t\r\nX-Big: " + b"a" * 33 * 1024 + b"\r\n\r\n"
        )
        answer = read_until_closed(sock)
    assert answer.startswith(b"HTTP/1.1 431 "), answer[:80]
    with connect(guarded) as sock:  # one header that never ends, in separate reads
        sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: t\r\nX-Big: ")
        time.sleep(0.05)  # the read that begins a request is not counted
        for _ in range(33):  # 33 KiB more
            sock.sendall(b"a" * 1024)
            time.sleep(0.005)
        answer = read_until_closed(sock)
    assert answer.startswith(b"HTTP/1.1 431 "), answer[:80]


def test_ordinary_clients_are_not_cut_off(guarded: Server, keys: dict[str, str]) -> None:
    key = keys["score"]
    with connect(guarded) as sock:
        sock.sendall(score(key, "lim-1"))
        assert read_responses(sock, 1)[0].startswith(b"HTTP/1.1 200 ")
        time.sleep(TIMEOUT_S + 0.5)  # idle past the request timeout: keep-alive (5 s) rules
        # a 60 KB body and 40 KB of pipelined requests, each in one write
        txs = [{**PAYMENT, "transaction_id": f"lim-b{i}"} for i in range(240)]
        sock.sendall(post(key, "/v1/score/batch", {"transactions": txs}))
        assert read_responses(sock, 1)[0].startswith(b"HTTP/1.1 200 ")
        sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: t\r\n\r\n" * 1200)
        assert all(r.startswith(b"HTTP/1.1 200 ") for r in read_responses(sock, 1200))
        # a request sent slowly but completed within the timeout is answered
        head, _, rest = score(key, "lim-4").partition(b"\r\n\r\n")
        for part in (head[:20], head[20:] + b"\r\n\r\n", rest[:10], rest[10:]):
            sock.sendall(part)
            time.sleep(0.2)
        assert read_responses(sock, 1)[0].startswith(b"HTTP/1.1 200 ")
