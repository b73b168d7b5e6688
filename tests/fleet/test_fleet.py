"""Three ``fraudops serve scoring`` instances behind HAProxy (roundrobin, health checks on
/readyz, retries on a connection failure or a 503): under load one instance is stopped with
SIGTERM and the model is hot-swapped on all of them, and no request fails."""

from __future__ import annotations

import json
import shutil
import signal
import subprocess
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from models.registry import Registry
from tests.fleet.haproxy import HAProxy
from tests.fleet.load import Answer, Load
from tests.services.conftest import Server
from tests.waiting import wait_until

pytestmark = [pytest.mark.integration, pytest.mark.slow, pytest.mark.fleet]
DRAIN_S = 1.0


@dataclass(frozen=True)
class Run:
    answers: list[Answer]
    swapped_at: float  # every instance still serving answers the new model from here
    victim_exit: int | None
    stats: dict[str, dict[str, str]]


def new_version(registry: Path) -> str:
    """A copy of m1 published as the next version (what training registers), made production."""
    reg = Registry(registry)
    staging = registry.parent / "staging"
    shutil.copytree(registry / "m1", staging)
    manifest = json.loads((staging / "manifest.json").read_text())
    version = reg.register(staging, manifest)
    reg.set_production(version, "fleet test: hot swap under load")
    return version


def model_of(server: Server) -> str | None:
    version: str | None = httpx.get(server.url + "/readyz", timeout=2).json()["model_version"]
    return version


def run_fleet(env: dict[str, str], key: str, registry: Path, tmp: Path,
              seconds: float, threads: int) -> Run:  # fmt: skip
    """``seconds`` of load; SIGTERM to the second instance after a quarter of it, the swap at
    the half."""
    env = {**env, "FRAUDOPS_DRAIN_S": str(DRAIN_S), "FRAUDOPS_SCORING_MODEL_POLL_S": "0.2"}
    with ThreadPoolExecutor(3) as pool:
        servers = list(pool.map(lambda _: Server(env), range(3)))
    balancer = None
    try:
        assert all(wait_until(lambda s=s: model_of(s) == "m1", 30) for s in servers)
        balancer = HAProxy(tmp, {f"s{i}": s.port for i, s in enumerate(servers)})
        load = Load(balancer.url, key, threads).start()
        victim, live = servers[1], [servers[0], servers[2]]
        time.sleep(seconds / 4)
        victim.proc.send_signal(signal.SIGTERM)
        assert wait_until(lambda: balancer.servers()["s1"]["status"] != "UP", DRAIN_S)
        time.sleep(seconds / 4)
        version = new_version(registry)
        assert wait_until(lambda: all(model_of(s) == version for s in live), 10)
        swapped_at = time.monotonic()
        time.sleep(seconds / 2)
        answers = load.stop()
        try:
            victim_exit: int | None = victim.proc.wait(DRAIN_S + 10)
        except subprocess.TimeoutExpired:
            victim_exit = None
        return Run(answers, swapped_at, victim_exit, balancer.servers())
    finally:
        if balancer is not None:
            balancer.stop()
        for s in servers:
            s.stop()


def check(run: Run) -> None:
    failed = [a for a in run.answers if a.status != 200]
    assert not failed, f"{len(failed)} of {len(run.answers)} failed, e.g. {failed[:3]}"
    assert run.victim_exit == 0
    assert int(run.stats["s1"]["stot"]) > 0  # the stopped instance had served its share
    after = [a.model_version for a in run.answers if a.sent >= run.swapped_at]
    assert after and set(after) == {"m2"}
    assert {a.model_version for a in run.answers} == {"m1", "m2"}


def test_fleet_sigterm_and_hot_swap_under_load(
    scoring_env: dict[str, str], keys: dict[str, str], registry_dir: Path, tmp_path: Path
) -> None:
    """The representative case: a few seconds of load from 4 clients."""
    check(run_fleet(scoring_env, keys["score"], registry_dir, tmp_path, seconds=4, threads=4))


@pytest.mark.extended
def test_fleet_longer_heavier_load(
    scoring_env: dict[str, str], keys: dict[str, str], registry_dir: Path, tmp_path: Path
) -> None:
    run = run_fleet(scoring_env, keys["score"], registry_dir, tmp_path, seconds=20, threads=16)
    check(run)
    given = {name: (row["stot"], row["status"]) for name, row in run.stats.items()}
    retried = sum(int(row["wretr"]) + int(row["wredis"]) for row in run.stats.values())
    print(f"fleet: {len(run.answers)} answers, all 200; per server (requests, state) {given}; "
          f"HAProxy retries/redispatches {retried}")  # fmt: skip
