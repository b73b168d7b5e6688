"""A trained model promoted to production, API keys, and the scoring app against the real Redis."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import redis
from fastapi.testclient import TestClient

from fraudops.profile_store.commands import StoreConfig
from models.registry import Registry
from services.common.auth import new_key
from tests.conftest import TEST_REDIS_URL
from tests.models.conftest import fast_config_file, model_frame, trained  # noqa: F401

PAYMENT = {
    "transaction_id": "p-1",
    "timestamp": "2026-11-26T10:00:00Z",
    "customer_id": "cust-1",
    "terminal_id": "term-1",
    "amount": "42.50",
    "currency": "EUR",
    "mcc": "5411",
    "country": "FR",
    "channel": "card_present",
}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="session")
def keys() -> dict[str, str]:
    score_key, score_entry = new_key("psp", ["score"])
    other_key, other_entry = new_key("analyst", ["feedback"])
    return {"score": score_key, "other": other_key,
            "config": json.dumps([score_entry, other_entry])}  # fmt: skip


@pytest.fixture
def registry_dir(trained: dict[str, Path], tmp_path: Path) -> Path:  # noqa: F811
    root = tmp_path / "models"
    shutil.copytree(trained["registry"], root)
    Registry(root).set_production("m1", "test setup")
    return root


@pytest.fixture
def scoring_env(
    registry_dir: Path, keys: dict[str, str], store_config: StoreConfig
) -> dict[str, str]:
    return {
        "FRAUDOPS_API_KEYS": keys["config"],
        "FRAUDOPS_MODEL_DIR": str(registry_dir),
        "FRAUDOPS_KEY_PREFIX": store_config.prefix,
        "REDIS_URL": TEST_REDIS_URL,
        "FRAUDOPS_SCORING_MODEL_POLL_S": "0.2",
        # in-process tests share the GIL between many client threads and the server's loop
        "FRAUDOPS_SCORING_REDIS_BUDGET_MS": "500",
    }


@pytest.fixture
def client(scoring_env: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> Iterator[TestClient]:
    for k, v in scoring_env.items():
        monkeypatch.setenv(k, v)
    from services.scoring.app import create_app

    with TestClient(create_app()) as c:
        yield c


def auth(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


class Server:
    """``fraudops serve <service>`` as a real process on a free port."""

    def __init__(
        self, env: dict[str, str], workers: int = 1, service: str = "scoring",
        args: tuple[str, ...] = (), port: int | None = None,
    ) -> None:  # fmt: skip
        self.port = port or free_port()  # given: a URL the service must know of itself
        self.url = f"http://127.0.0.1:{self.port}"
        self.output: str | None = None
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "fraudops.cli", "serve", service, "--port", str(self.port),
             "--workers", str(workers), *args],
            # no balancer to wait for: no drain delay unless the test asks for one
            env={"FRAUDOPS_DRAIN_S": "0", **os.environ, **env},
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
        )  # fmt: skip
        # read as it comes: a full pipe would block the server's logging, then the server
        self._chunks: list[bytes] = []
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                if httpx.get(self.url + "/healthz", timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                time.sleep(0.2)
        self.stop()
        raise RuntimeError(f"{service} server did not start")

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for chunk in iter(lambda: self.proc.stdout.read1(65536), b""):  # type: ignore[union-attr]
            self._chunks.append(chunk)

    def stop(self) -> str:
        """Its output; stopping again (e.g. from a finalizer) returns the same."""
        if self.output is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
            self._reader.join(10)
            self.output = b"".join(self._chunks).decode(errors="replace")
        return self.output


@pytest.fixture
def server(scoring_env: dict[str, str]) -> Iterator[Server]:
    s = Server(scoring_env)
    yield s
    s.stop()


def wait_for_redis(client: redis.Redis) -> None:
    for _ in range(100):
        try:
            client.ping()
            return
        except redis.ConnectionError:
            time.sleep(0.05)
    raise RuntimeError("redis-server did not start")


class RedisServer:
    """A redis-server of the test's own, to kill, stop (SIGSTOP) and start again."""

    def __init__(self, port: int, password: str | None = None, extra: tuple[str, ...] = ()) -> None:
        self.port, self.password, self.extra = port, password, extra
        self.start()

    def start(self) -> None:
        auth = ["--requirepass", self.password] if self.password else []
        auth += self.extra
        self.proc = subprocess.Popen(["redis-server", "--port", str(self.port), "--save", "",
                                      "--appendonly", "no", "--bind", "127.0.0.1", *auth],
                                     stdout=subprocess.DEVNULL)  # fmt: skip
        wait_for_redis(redis.Redis(port=self.port, password=self.password))

    def kill(self) -> None:
        self.proc.kill()
        self.proc.wait()


@pytest.fixture
def own_redis() -> Iterator[RedisServer]:
    if shutil.which("redis-server") is None:
        pytest.fail("redis-server is needed (make services installs it)")
    server = RedisServer(free_port())
    yield server
    server.proc.kill()


@pytest.fixture
def durable_redis(tmp_path: Path) -> Iterator[RedisServer]:
    """``own_redis`` with an append-only file: a process killed loses no write it answered (each
    is in the file, in the OS's cache, before the answer; fsync matters only for the machine)."""
    if shutil.which("redis-server") is None:
        pytest.fail("redis-server is needed (make services installs it)")
    durable = ("--appendonly", "yes", "--appendfsync", "everysec", "--dir", str(tmp_path))
    server = RedisServer(free_port(), extra=durable)
    yield server
    server.proc.kill()
