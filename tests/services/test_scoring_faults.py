"""A real scoring server under faults: Redis refused, Redis hung, a model hot-swap under load."""

from __future__ import annotations

import signal
import threading
import time
from collections import Counter
from collections.abc import Iterable
from pathlib import Path

import httpx
import pytest
import redis

from fraudops.profile_store.client import ProfileStore
from fraudops.profile_store.commands import StoreConfig
from fraudops.profile_store.layout import EntityKind
from models.registry import Registry
from services.common import scoring_log
from tests.cli import run_cli
from tests.services.conftest import PAYMENT, RedisServer, Server, auth
from tests.waiting import wait_until

pytestmark = [pytest.mark.integration, pytest.mark.slow]


def day_counts(store: ProfileStore, kind: EntityKind, ids: Iterable[str]) -> dict[str, int]:
    """Payments counted per entity: the sum of its per-day count buckets."""
    out = {}
    for entity in ids:
        series = store.read_entity(kind, entity).series.get("dn")
        out[entity] = sum(v for _, v in series.items()) if series is not None else 0
    return out


class Load(threading.Thread):
    """Sends payments one after another until stopped; records status, answer and latency."""

    def __init__(self, url: str, key: str, prefix: str) -> None:
        super().__init__(daemon=True)
        self.url, self.key, self.prefix = url, key, prefix
        self.results: list[tuple[int, dict, float]] = []
        self.finished: list[float] = []  # time.monotonic() of each answer
        self.stop = threading.Event()

    def run(self) -> None:
        with httpx.Client(timeout=10) as client:
            i = 0
            while not self.stop.is_set():
                i += 1
                tx = {**PAYMENT, "transaction_id": f"{self.prefix}-{i}",
                      "customer_id": f"{self.prefix}-c{i % 20}", "timestamp":
                      f"2026-11-26T12:{i // 60 % 60:02d}:{i % 60:02d}Z"}  # fmt: skip
                started = time.perf_counter()
                r = client.post(self.url + "/v1/score", json=tx, headers=auth(self.key))
                body = r.json() if r.headers.get("content-type") == "application/json" else {}
                self.results.append((r.status_code, body, time.perf_counter() - started))
                self.finished.append(time.monotonic())
                time.sleep(0.005)


def test_redis_down_then_hung_then_back(
    scoring_env: dict[str, str], keys: dict[str, str], durable_redis: RedisServer,
    store_config: StoreConfig, request: pytest.FixtureRequest,
) -> None:  # fmt: skip
    own_redis = durable_redis  # killed below: what it counted before survives, as in production
    env = {**scoring_env, "REDIS_URL": f"redis://127.0.0.1:{own_redis.port}/0",
           "FRAUDOPS_SCORING_REDIS_BUDGET_MS": "50",
           # a rate limit that never refuses, checked in Redis on every request: its outage
           # must let the payments through (fail open), never turn into an error
           "FRAUDOPS_SCORING_RATE_LIMIT_PER_KEY": "1000000",
           "FRAUDOPS_SCORING_RATE_LIMIT_LEASE_SHARE": "0"}  # fmt: skip
    server = Server(env)
    request.addfinalizer(server.stop)  # also when an assertion fails midway
    load = Load(server.url, keys["score"], "out")
    try:
        load.start()
        assert wait_until(lambda: len(load.results) >= 20)
        assert all(not b["degraded"] for _, b, _ in load.results[:20])

        own_redis.kill()  # refused connections
        assert wait_until(lambda: sum(b.get("degraded", False) for _, b, _ in load.results) >= 30)
        own_redis.start()
        assert wait_until(lambda: not load.results[-1][1].get("degraded", True))

        own_redis.proc.send_signal(signal.SIGSTOP)  # a hung Redis: the time budget answers
        mark = len(load.results)
        time.sleep(1.5)
        own_redis.proc.send_signal(signal.SIGCONT)
        hung = load.results[mark:]
        assert hung and any(b.get("degraded") for _, b, _ in hung)
        assert wait_until(lambda: not load.results[-1][1].get("degraded", True))
        time.sleep(0.5)
    finally:
        load.stop.set()
        load.join(10)
    statuses = {s for s, _, _ in load.results}
    assert statuses == {200}, statuses  # never a 5xx, never a refused request
    assert max(t for _, _, t in load.results) < 1.0  # nobody waited on the dead Redis
    degraded = [b for _, b, _ in load.results if b["degraded"]]
    assert degraded and all(b["decision"] != "decline" for b in degraded)

    # the degraded payments were counted in the profiles once Redis was back (replay): each
    # customer's and the terminal's day counts equal the payments answered, degraded or not
    client = redis.Redis(port=own_redis.port)
    store = ProfileStore(client, StoreConfig(prefix=store_config.prefix))
    assert wait_until(lambda: all(client.exists(f"{store_config.prefix}:r:{b['transaction_id']}")
                                  for b in degraded))  # fmt: skip
    answered = Counter(f"out-c{int(b['transaction_id'].split('-')[1]) % 20}"
                       for _, b, _ in load.results)  # fmt: skip
    assert wait_until(lambda: day_counts(store, "customer", answered) == dict(answered)), (
        day_counts(store, "customer", answered), dict(answered))  # fmt: skip
    terminal = day_counts(store, "terminal", {PAYMENT["terminal_id"]: 0})
    assert terminal == {PAYMENT["terminal_id"]: len(load.results)}, terminal
    # every payment in the scoring log, degraded ones too (written by the replay). The log is at
    # least once: a write that timed out while Redis hung ran when it woke, and its retry adds
    # the entry again (consumers ignore a repeated transaction); a kill doubles nothing
    log_key = scoring_log.stream_key(store_config.prefix)
    answered = {b["transaction_id"] for _, b, _ in load.results}

    def logged() -> set[str]:
        entries = client.xrange(log_key)
        return {scoring_log.decode(f[scoring_log.FIELD])["transaction_id"] for _, f in entries}

    assert wait_until(lambda: logged() == answered), answered - logged()
    # ... and a retry of a degraded payment gets the same (degraded) answer
    first = degraded[0]
    n = int(first["transaction_id"].split("-")[1])
    retry = httpx.post(server.url + "/v1/score", headers=auth(keys["score"]), json={
        **PAYMENT, "transaction_id": first["transaction_id"], "customer_id": f"out-c{n % 20}",
        "timestamp": f"2026-11-26T12:{n // 60 % 60:02d}:{n % 60:02d}Z"})  # fmt: skip
    assert retry.status_code == 200 and retry.json() == first
    metrics = httpx.get(server.url + "/metrics").text
    counted = {
        line.split('reason="')[1].split('"')[0]: float(line.rsplit(" ", 1)[1])
        for line in metrics.splitlines()
        if line.startswith("fraudops_scoring_degraded_total{")
    }
    # refused connections show as "unavailable" then "breaker_open", the hang as "timeout"
    assert counted.get("timeout", 0) >= 1, counted
    assert sum(counted.values()) >= len(degraded), counted
    name = 'fraudops_rate_limit_unavailable_total{service="scoring"}'
    unchecked = [ln for ln in metrics.splitlines() if ln.startswith(name)]
    assert unchecked and float(unchecked[0].rsplit(" ", 1)[1]) >= 1, unchecked
    out = server.stop()
    assert "Traceback" not in out
    # the outage is logged a line per reason per interval, with counts, not a line per payment
    lines = [ln for ln in out.splitlines() if "degraded answer" in ln]
    assert 1 <= len(lines) <= 2 * len(counted) < len(degraded), (len(lines), len(degraded))


def test_model_hot_swap_under_load(
    scoring_env: dict[str, str], keys: dict[str, str], registry_dir: Path,
    trained: dict[str, Path], fast_config_file: Path, request: pytest.FixtureRequest,
) -> None:  # fmt: skip
    r = run_cli("train", "--dataset", "v1", "--datasets", str(trained["datasets"]), "--quiet",
                "--registry", str(registry_dir), "--config", str(fast_config_file))  # fmt: skip
    assert r.returncode == 0, r.stderr
    new = r.stdout.strip()
    server = Server(scoring_env)
    request.addfinalizer(server.stop)
    load = Load(server.url, keys["score"], "swap")
    try:
        load.start()
        assert wait_until(lambda: len(load.results) >= 30)
        Registry(registry_dir).set_production(new, "hot-swap test")
        assert wait_until(lambda: load.results[-1][1].get("model_version") == new, 10)
        swapped_at = len(load.results)
        assert wait_until(lambda: len(load.results) >= swapped_at + 30)
    finally:
        load.stop.set()
        load.join(10)
    assert {s for s, _, _ in load.results} == {200}
    versions = [b["model_version"] for _, b, _ in load.results]
    first_new = versions.index(new)
    assert set(versions[:first_new]) == {"m1"} and set(versions[first_new:]) == {new}
    latencies = sorted(t for _, _, t in load.results)
    assert latencies[-1] < 0.5, latencies[-5:]  # no request stalled by the swap
    ready = httpx.get(server.url + "/readyz").json()
    assert ready["model_version"] == new
    assert f'fraudops_scoring_model_info{{version="{new}"}} 1.0' in httpx.get(
        server.url + "/metrics").text  # fmt: skip
    server.stop()


def test_large_batches_do_not_hold_single_payments(
    scoring_env: dict[str, str], keys: dict[str, str]
) -> None:
    server = Server({**scoring_env, "FRAUDOPS_SCORING_REDIS_BUDGET_MS": "50"})
    load = Load(server.url, keys["score"], "beside-batch")
    batches = []
    try:
        load.start()
        assert wait_until(lambda: len(load.results) >= 10)
        with httpx.Client(timeout=30) as client:
            for b in range(3):
                txs = [{**PAYMENT, "transaction_id": f"big-{b}-{i}", "customer_id": f"bc{i % 300}",
                        "terminal_id": f"bt{i % 50}"} for i in range(1000)]  # fmt: skip
                txs[999] = {**txs[0]}  # a repeat in another chunk: the first one's answer
                started = time.monotonic()
                r = client.post(server.url + "/v1/score/batch", json={"transactions": txs},
                                headers=auth(keys["score"]))  # fmt: skip
                assert r.status_code == 200, r.text
                batches.append((started, time.monotonic(), r.json()["results"]))
    finally:
        load.stop.set()
        load.join(10)
        server.stop()
    for started, ended, results in batches:
        assert len(results) == 1000 and not any(a["degraded"] for a in results)
        assert results[999] == results[0]
        # single payments kept being answered while the batch was scored (in chunks); scored
        # at once, the batch held them all but the one or two answered during its round trip
        beside = [t for t in load.finished if started < t < ended]
        assert len(beside) >= 5, (len(beside), ended - started)
    assert {s for s, _, _ in load.results} == {200}
    # each kept its 50 ms budget: a rare one past it (a GC pause or the machine's other load
    # landing on the same 50 ms) is tolerated; a batch scored at once degraded most of them
    degraded = [b for _, b, _ in load.results if b["degraded"]]
    assert len(degraded) <= max(1, len(load.results) // 50), (len(degraded), len(load.results))
