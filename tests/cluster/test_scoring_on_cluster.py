"""The scoring service on a real Redis Cluster: the same answers as on one Redis, a slot
migrated under load (MOVED and ASK followed), a master killed under load (degraded only during
the gap, replayed after)."""

from __future__ import annotations

import threading
import time
from collections import Counter
from typing import Any

import httpx
import pytest
from redis.cluster import RedisCluster

from fraudops.profile_store.layout import dedup_key, entity_key
from fraudops.profile_store.state import EntityState
from services.common import scoring_log
from tests.cluster.local import LocalCluster
from tests.services.conftest import PAYMENT, Server, auth
from tests.waiting import wait_until

pytestmark = [pytest.mark.integration, pytest.mark.cluster, pytest.mark.slow]


def payment(i: int, tag: str) -> dict[str, Any]:
    """The i-th payment of a stream: 25 customers, 7 terminals, amounts and times varying."""
    hour, minute, second = 10 + i // 3600, i // 60 % 60, i % 60
    return {
        **PAYMENT,
        "transaction_id": f"{tag}-{i}",
        "customer_id": f"{tag}-c{i % 25}",
        "terminal_id": f"{tag}-t{i % 7}",
        "amount": f"{10 + (i * 37) % 900}.{i % 100:02d}",
        "timestamp": f"2026-11-26T{hour:02d}:{minute:02d}:{second:02d}Z",
    }


def day_count(client: RedisCluster, prefix: str, kind: str, entity: str) -> int:
    state = EntityState.from_hash(client.hgetall(entity_key(prefix, kind, entity)))  # type: ignore[arg-type]
    series = state.series.get("dn")
    return sum(v for _, v in series.items()) if series is not None else 0


def score_all(url: str, key: str, txs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    with httpx.Client(base_url=url, timeout=10, headers=auth(key)) as client:
        out = []
        for tx in txs:
            r = client.post("/v1/score", json=tx)
            assert r.status_code == 200, r.text
            out.append(r.json())
        return out


@pytest.mark.extended  # make test-cluster; the failover test below is the default run
def test_same_answers_as_one_redis_and_the_log_and_profiles_land(
    redis_cluster: LocalCluster, scoring_env: dict[str, str], keys: dict[str, str]
) -> None:
    txs = [payment(i, "par") for i in range(240)]
    single = Server(scoring_env)
    try:
        expected = score_all(single.url, keys["score"], txs)
    finally:
        single.stop()
    cluster_env = {**scoring_env, "REDIS_URL": redis_cluster.url, "REDIS_CLUSTER": "true"}
    server = Server(cluster_env, workers=2)
    try:
        got = score_all(server.url, keys["score"], txs)
        again = score_all(server.url, keys["score"], txs[:20])  # stored answers, from the cluster
    finally:
        out = server.stop()
    assert "Traceback" not in out, out[-3000:]
    assert not any(a["degraded"] for a in got)
    # the profiles before each payment were the same, so were the features, scores and reasons
    assert got == expected
    assert again == got[:20]
    client = RedisCluster.from_url(redis_cluster.url)
    prefix = scoring_env["FRAUDOPS_KEY_PREFIX"]
    customers = Counter(tx["customer_id"] for tx in txs)
    assert {c: day_count(client, prefix, "customer", c) for c in customers} == dict(customers)
    masters = {client.keyslot(entity_key(prefix, "customer", c)) for c in customers}
    assert len({redis_cluster.owner(s) for s in masters}) == 3  # spread over every master
    assert client.xlen(scoring_log.stream_key(prefix)) == len(
        txs
    )  # one entry per payment, no repeat


class Load(threading.Thread):
    """Payments one after another until stopped: (status, answer, monotonic time answered)."""

    def __init__(self, url: str, key: str, tag: str, pause_s: float = 0.003) -> None:
        super().__init__(daemon=True)
        self.url, self.key, self.tag, self.pause_s = url, key, tag, pause_s
        self.results: list[tuple[int, dict[str, Any], float]] = []
        self.stop = threading.Event()

    def run(self) -> None:
        with httpx.Client(base_url=self.url, timeout=10, headers=auth(self.key)) as client:
            i = 0
            while not self.stop.is_set():
                r = client.post("/v1/score", json=payment(i, self.tag))
                body = r.json() if r.headers.get("content-type") == "application/json" else {}
                self.results.append((r.status_code, body, time.monotonic()))
                i += 1
                time.sleep(self.pause_s)

    def finish(self) -> None:
        self.stop.set()
        self.join(15)


def redirects(url: str) -> dict[str, float]:
    return {
        line.split('kind="')[1].split('"')[0]: float(line.rsplit(" ", 1)[1])
        for line in httpx.get(url + "/metrics").text.splitlines()
        if line.startswith("fraudops_scoring_cluster_redirects_total{")
    }


@pytest.mark.extended  # make test-cluster; the failover test below is the default run
def test_a_slot_migrated_under_load_is_followed_through_ask_and_moved(
    redis_cluster: LocalCluster, scoring_env: dict[str, str], keys: dict[str, str]
) -> None:
    prefix = scoring_env["FRAUDOPS_KEY_PREFIX"]
    env = {**scoring_env, "REDIS_URL": redis_cluster.url, "REDIS_CLUSTER": "true"}
    server = Server(env)
    load = Load(server.url, keys["score"], "mig")
    client = RedisCluster.from_url(redis_cluster.url)
    try:
        load.start()
        assert wait_until(lambda: len(load.results) >= 50)
        # the slot of a terminal that takes every 7th payment: met during the move
        slot = client.keyslot(entity_key(prefix, "terminal", "mig-t0"))
        source = redis_cluster.owner(slot)
        target = next(p for p in redis_cluster.masters() if p != source)
        moved = redis_cluster.migrate_slot(slot, target, pause_s=0.3)  # within the budget
        assert moved >= 2  # its profile and dedup markers
        mark = len(load.results)
        assert wait_until(lambda: len(load.results) >= mark + 50)
        counted = redirects(server.url)
    finally:
        load.finish()
        out = server.stop()
    assert "Traceback" not in out, out[-3000:]
    assert redis_cluster.owner(slot) == target
    assert {s for s, _, _ in load.results} == {200}
    assert not [b for _, b, _ in load.results if b["degraded"]]
    assert counted.get("ask", 0) >= 1 and counted.get("moved", 0) >= 1, counted
    # every payment counted once in its terminal's and its customer's profile, across the move
    n = [int(b["transaction_id"].split("-")[1]) for _, b, _ in load.results]
    for kind, ids in (("terminal", Counter(f"mig-t{i % 7}" for i in n)),
                      ("customer", Counter(f"mig-c{i % 25}" for i in n))):  # fmt: skip
        assert {e: day_count(client, prefix, kind, e) for e in ids} == dict(ids), kind


def test_a_master_killed_under_load_fails_over_without_a_failed_request(
    redis_cluster: LocalCluster, scoring_env: dict[str, str], keys: dict[str, str]
) -> None:
    prefix = scoring_env["FRAUDOPS_KEY_PREFIX"]
    env = {**scoring_env, "REDIS_URL": redis_cluster.url, "REDIS_CLUSTER": "true",
           "FRAUDOPS_SCORING_REDIS_BUDGET_MS": "50"}  # fmt: skip
    server = Server(env, workers=2)
    load = Load(server.url, keys["score"], "fo")
    client = RedisCluster.from_url(redis_cluster.url)
    log_master = redis_cluster.owner(client.keyslot(scoring_log.stream_key(prefix)))
    victim = next(p for p in redis_cluster.masters() if p != log_master)
    try:
        load.start()
        assert wait_until(lambda: len(load.results) >= 100)
        redis_cluster.kill(victim)
        killed_at = time.monotonic()
        assert wait_until(lambda: any(b.get("degraded") for _, b, _ in load.results), 10)
        assert wait_until(lambda: victim not in redis_cluster.masters(), 20)
        assert wait_until(lambda: not load.results[-1][1].get("degraded", True), 20)
        mark = len(load.results)
        assert wait_until(lambda: len(load.results) >= mark + 100)
    finally:
        load.finish()
        out = server.stop()
    assert "Traceback" not in out, out[-3000:]
    assert {s for s, _, _ in load.results} == {200}  # never a 5xx, never a refused request
    degraded = [(b, t) for _, b, t in load.results if b["degraded"]]
    assert degraded and all(b["decision"] != "decline" for b, _ in degraded)
    failover_s = max(t for _, t in degraded) - killed_at
    print(f"failover: {failover_s:.2f} s, {len(degraded)} degraded of {len(load.results)}")
    assert failover_s < 10, failover_s  # node timeout 2 s, then the promotion and a new map
    # the degraded payments were replayed into the profiles; the scoring log has every payment
    answered = {b["transaction_id"] for _, b, _ in load.results}
    assert wait_until(lambda: client.xlen(scoring_log.stream_key(prefix)) >= len(answered), 10)
    assert client.xlen(scoring_log.stream_key(prefix)) == len(answered)
    for b, _ in degraded:
        tx = b["transaction_id"]
        i = int(tx.split("-")[1])
        marker = dedup_key(prefix, "customer", f"fo-c{i % 25}", tx)
        assert wait_until(lambda m=marker: client.exists(m) == 1, 10), marker


def test_a_script_load_the_cluster_client_cannot_make_is_a_degraded_answer(
    redis_cluster: LocalCluster,
) -> None:
    """Seen under ``fraudops bench cluster``: after a master was killed, the admin client's
    script load failed with RedisClusterException ("cannot be connected"), which is not a
    RedisError, and the payment got a 500. It is Redis unavailable: a degraded answer."""
    import asyncio

    from redis.exceptions import RedisClusterException

    from fraudops.profile_store.commands import StoreConfig
    from fraudops.schema import Txn
    from services.scoring.breaker import Breaker
    from services.scoring.cluster_wire import ClusterWire
    from services.scoring.profiles import ProfileReader

    class Unreachable:  # the admin client with no node of its map answering
        async def script_load(self, script: str) -> str:
            raise RedisClusterException("Redis Cluster cannot be connected.")

    for port in redis_cluster.masters():
        redis_cluster.node(port).script_flush()  # every payment meets NOSCRIPT

    async def read() -> object:
        wire = ClusterWire(redis_cluster.url)
        reader = ProfileReader(wire=wire, admin=Unreachable(), cfg=StoreConfig(prefix="seed"),  # type: ignore[arg-type]
                               breaker=Breaker(1.0))  # fmt: skip
        txs = [Txn(f"s-{i}", 1_764_000_000 + i, f"s-c{i}", f"s-t{i}", 10.0) for i in range(20)]
        try:
            return await reader.read(txs, 5.0)
        finally:
            wire.close()

    assert asyncio.run(read()) == "unavailable"


@pytest.mark.extended  # make test-cluster; the failover test meets the same case by chance
def test_a_master_without_the_script_does_not_make_the_others_count_twice(
    redis_cluster: LocalCluster, scoring_env: dict[str, str], keys: dict[str, str]
) -> None:
    """A promoted replica (or a restarted master) may lack the update script while the other
    masters have it: only the units it refused are sent again, or the others' updates run twice
    and the payment looks already counted (409 to the payer, found by the failover test)."""
    prefix = scoring_env["FRAUDOPS_KEY_PREFIX"]
    env = {**scoring_env, "REDIS_URL": redis_cluster.url, "REDIS_CLUSTER": "true"}
    server = Server(env)
    client = RedisCluster.from_url(redis_cluster.url)
    try:
        first = score_all(server.url, keys["score"], [payment(0, "ns")])[0]
        assert not first["degraded"]  # the script is loaded on every master now
        tx = payment(1, "ns")
        customer = redis_cluster.owner(
            client.keyslot(entity_key(prefix, "customer", tx["customer_id"]))
        )
        terminal = redis_cluster.owner(
            client.keyslot(entity_key(prefix, "terminal", tx["terminal_id"]))
        )
        assert customer != terminal  # the payment's two units go to two masters
        redis_cluster.node(terminal).script_flush()
        with httpx.Client(base_url=server.url, headers=auth(keys["score"])) as http:
            r = http.post("/v1/score", json=tx)
    finally:
        out = server.stop()
    assert "Traceback" not in out, out[-3000:]
    assert r.status_code == 200 and not r.json()["degraded"], r.text
    assert day_count(client, prefix, "customer", tx["customer_id"]) == 1
    assert day_count(client, prefix, "terminal", tx["terminal_id"]) == 1
