"""HAProxy as a real process in front of the scoring instances, with its runtime API to read
each server's state (UP/DOWN) and how many requests it was given."""

from __future__ import annotations

import csv
import re
import shutil
import socket
import subprocess
import time
from pathlib import Path

import httpx
import pytest

from tests.services.conftest import free_port

SHIPPED = Path(__file__).resolve().parents[2] / "docker" / "haproxy.cfg"
# docker/haproxy.cfg's backend with the instances' addresses in place of Docker's DNS, and
# checks fast enough for a test's time
BACKEND = """
frontend scoring
    bind 127.0.0.1:{port}
    default_backend scoring

backend scoring
    balance roundrobin
    option httpchk GET /readyz
    http-check expect status 200
    default-server inter {inter_ms}ms fastinter {inter_ms}ms downinter {inter_ms}ms fall 1 rise 2
{servers}
"""


def config(port: int, stats: Path, servers: str, inter_ms: int) -> str:
    """docker/haproxy.cfg's global and defaults (the retry policy under test), with a stats
    socket, then ``BACKEND``."""
    shipped = SHIPPED.read_text()
    head = shipped[: shipped.index("\nresolvers ")]
    assert "retry-on conn-failure" in head, "docker/haproxy.cfg retries in its defaults"
    # HAProxy refuses to start when its file limit is below 2 x maxconn: a test's is small
    head = re.sub(r"\n    maxconn \d+\n", "\n    maxconn 256\n", head)
    head = head.replace("global\n", f"global\n    stats socket {stats} mode 600 level admin\n", 1)
    return head + BACKEND.format(port=port, inter_ms=inter_ms, servers=servers)


class HAProxy:
    def __init__(self, tmp: Path, backends: dict[str, int], inter_ms: int = 100) -> None:
        binary = shutil.which("haproxy")
        if binary is None:
            pytest.fail(
                "haproxy not found on PATH: install the Debian package `haproxy` "
                "(apt-get install -y haproxy; scripts/ensure_services.sh does it)"
            )
        self.port, self.socket = free_port(), tmp / "haproxy.sock"
        self.url = f"http://127.0.0.1:{self.port}"
        servers = "\n".join(f"    server {n} 127.0.0.1:{p} check" for n, p in backends.items())
        cfg = tmp / "haproxy.cfg"
        cfg.write_text(config(self.port, self.socket, servers, inter_ms))
        check = subprocess.run([binary, "-c", "-f", str(cfg)], capture_output=True, text=True)
        assert check.returncode == 0, check.stdout + check.stderr
        self.log = tmp / "haproxy.log"
        with self.log.open("wb") as out:
            self.proc = subprocess.Popen([binary, "-db", "-f", str(cfg)], stdout=out, stderr=out)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and self.proc.poll() is None:
            if self.socket.exists() and all(s["status"] == "UP" for s in self.servers().values()):
                return
            time.sleep(0.1)
        self.stop()
        raise RuntimeError(f"haproxy did not start with every server UP: {self.log.read_text()}")

    def command(self, line: str) -> str:
        with socket.socket(socket.AF_UNIX) as s:
            s.connect(str(self.socket))
            s.sendall(line.encode() + b"\n")
            chunks = []
            while chunk := s.recv(65536):
                chunks.append(chunk)
        return b"".join(chunks).decode()

    def servers(self) -> dict[str, dict[str, str]]:
        """Per server of the backend: ``status`` (UP, DOWN, ...), ``stot`` (requests given) ..."""
        rows = csv.DictReader(self.command("show stat").lstrip("# ").splitlines())
        return {r["svname"]: r for r in rows if r["pxname"] == "scoring"
                and r["svname"] not in ("FRONTEND", "BACKEND")}  # fmt: skip

    def get(self, path: str) -> httpx.Response:
        return httpx.get(self.url + path, timeout=5)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
