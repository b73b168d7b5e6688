"""``fraudops serve --workers N``: one SO_REUSEPORT socket per worker, restarts, clean stop."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from tests.services.conftest import Server, auth
from tests.waiting import wait_until

pytestmark = [pytest.mark.integration, pytest.mark.slow]


def children(pid: int) -> list[int]:
    """The worker processes of a server (not multiprocessing's resource tracker)."""
    path = Path(f"/proc/{pid}/task/{pid}/children")
    pids = [int(p) for p in path.read_text().split()] if path.exists() else []
    workers = []
    for p in pids:
        try:
            if b"spawn_main" in Path(f"/proc/{p}/cmdline").read_bytes():
                workers.append(p)
        except OSError:
            continue
    return workers


def sockets_on(pid: int, port: int, state: str) -> int:
    """Sockets of process ``pid`` on local ``port`` in a TCP state ("01" established, "0A"
    listening), found through their inodes in /proc/net/tcp."""
    inodes = set()
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        parts = line.split()
        if int(parts[1].split(":")[1], 16) == port and parts[3] == state:
            inodes.add(parts[9])
    held = 0
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        try:
            target = os.readlink(fd)
        except OSError:
            continue
        if target.startswith("socket:[") and target[8:-1] in inodes:
            held += 1
    return held


def listening(pids: list[int], port: int) -> bool:
    return bool(pids) and all(sockets_on(p, port, "0A") for p in pids)


def open_keepalive(port: int, n: int, timeout: float = 5) -> list[socket.socket]:
    """Connected together, then used: as a client's connection pool or a load generator does."""
    conns = [socket.create_connection(("127.0.0.1", port), timeout=timeout) for _ in range(n)]
    for s in conns:
        s.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
    for s in conns:
        assert s.recv(4096).startswith(b"HTTP/1.1 200")
    return conns


def test_connections_spread_over_workers_and_a_dead_worker_is_replaced(
    scoring_env: dict[str, str], keys: dict[str, str]
) -> None:
    server = Server(scoring_env, workers=2)
    try:
        assert wait_until(lambda: listening(children(server.proc.pid), server.port), 60)
        workers = children(server.proc.pid)
        assert len(workers) == 2
        conns = open_keepalive(server.port, 16)  # opened together, as a client pool does
        held = [sockets_on(w, server.port, "01") for w in workers]
        assert sum(held) == 16 and sum(1 for h in held if h) >= 2, held
        for s in conns:
            s.close()

        victim = workers[0]
        os.kill(victim, signal.SIGKILL)
        assert wait_until(lambda: victim not in children(server.proc.pid)
                          and len(children(server.proc.pid)) == 2
                          and listening(children(server.proc.pid), server.port), 60)  # fmt: skip
        # the new worker listens only once started: no connection waits on its model load
        for s in open_keepalive(server.port, 16, timeout=1):
            s.close()
        r = httpx.post(
            server.url + "/v1/score",
            headers=auth(keys["score"]),
            json={
                "transaction_id": "after-restart",
                "timestamp": "2026-11-26T10:00:00Z",
                "customer_id": "c-w",
                "terminal_id": "t-w",
                "amount": "10.00",
                "currency": "EUR",
            },
        )
        assert r.status_code == 200, r.text

        taken = subprocess.run(  # the port is refused to a second server, not shared with it
            [sys.executable, "-m", "fraudops.cli", "serve", "scoring", "--port",
             str(server.port), "--workers", "2"],
            env={**os.environ, **scoring_env}, capture_output=True, text=True, timeout=60,
        )  # fmt: skip
        assert taken.returncode != 0 and "cannot listen" in taken.stderr, taken.stderr
    finally:
        pids = children(server.proc.pid)
        server.stop()
    assert server.proc.returncode == 0
    assert wait_until(lambda: not any(Path(f"/proc/{p}").exists() for p in pids), 10)


def test_workers_stop_when_their_supervisor_is_killed(scoring_env: dict[str, str]) -> None:
    server = Server(scoring_env, workers=2)
    try:
        assert wait_until(lambda: len(children(server.proc.pid)) >= 2)
        workers = children(server.proc.pid)
        server.proc.kill()  # no SIGTERM to forward: the kernel tells the workers (PDEATHSIG)
        server.proc.wait()
        assert wait_until(lambda: not any(Path(f"/proc/{p}").exists() for p in workers), 20)
        with pytest.raises(httpx.ConnectError):
            httpx.get(server.url + "/healthz", timeout=2)
    finally:
        server.stop()
