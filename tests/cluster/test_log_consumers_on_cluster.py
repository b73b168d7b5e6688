"""The feedback and alerts services on a real Redis Cluster (``REDIS_CLUSTER=true``): the sharded
scoring log read by both consumer groups with nothing lost or taken twice, and labels posted
while a master is killed all landing (SQL first, then the profiles after the failover)."""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest
from fastapi.testclient import TestClient
from redis.cluster import RedisCluster

from fraudops.schema import Txn
from services.common import scoring_log
from tests.cluster.local import LocalCluster
from tests.feedback.conftest import bearer, feedback_env, feedback_keys, postgres_url, user_token
from tests.services.conftest import Server
from tests.waiting import wait_until

__all__ = ["feedback_keys", "postgres_url"]  # fixtures
pytestmark = [pytest.mark.integration, pytest.mark.cluster]
SHARDS = 4
FLAGGED = ("review", "decline")


def log_decisions(client: RedisCluster, prefix: str, n: int, tag: str) -> dict[str, str]:
    """``n`` decisions appended as the scoring service does (each to its customer's stream);
    every third one flagged. Returns {transaction id: decision}."""
    streams = scoring_log.stream_keys(prefix, SHARDS)
    out: dict[str, str] = {}
    for i in range(n):
        customer = f"{tag}-c{i % 40}"
        tx = Txn(f"{tag}-{i}", 1_790_000_000 + i, customer, f"{tag}-t{i % 9}", 50.0 + i, "EUR",
                 "5411", "FR", "ecommerce")  # fmt: skip
        decision = FLAGGED[i % 2] if i % 3 == 0 else "approve"
        entry = scoring_log.encode(tx, [1.0, "FR"], 0.9 if i % 3 == 0 else 0.1, decision, "m1",
                                   False, time.time())  # fmt: skip
        stream = streams[scoring_log.shard_of(customer, SHARDS)]
        client.xadd(stream, {scoring_log.FIELD: entry})
        out[tx.transaction_id] = decision
    return out


def rows(url: str, sql: str) -> list[tuple[Any, ...]]:
    with psycopg.connect(url) as conn:
        try:
            return list(conn.execute(sql).fetchall())
        except psycopg.errors.UndefinedTable:  # not migrated yet
            return []


def group_reads(client: RedisCluster, prefix: str, group: str) -> dict[str, tuple[int, int, int]]:
    """{stream: (entries the group read, pending, lag)} over the log's shards."""
    out = {}
    for stream in scoring_log.stream_keys(prefix, SHARDS):
        (g,) = [g for g in client.xinfo_groups(stream) if g["name"] in (group, group.encode())]
        out[stream] = (int(g["entries-read"] or 0), int(g["pending"]), int(g["lag"] or 0))
    return out


def cluster_env(cluster: LocalCluster, database_url: str, prefix: str) -> dict[str, str]:
    return {"REDIS_URL": cluster.url, "REDIS_CLUSTER": "true", "DATABASE_URL": database_url,
            "FRAUDOPS_KEY_PREFIX": prefix, "FRAUDOPS_LOG_SHARDS": str(SHARDS)}  # fmt: skip


@pytest.fixture
def apps(
    redis_cluster: LocalCluster, postgres_url: str, feedback_keys: dict[str, str],
    monkeypatch: pytest.MonkeyPatch,
) -> Iterator[tuple[str, str]]:  # fmt: skip
    """The feedback and the alerts app (their lifespans: consumers, background threads) on the
    cluster, one PostgreSQL database for both; yields (prefix, database URL)."""
    prefix = f"lc{uuid.uuid4().hex[:8]}"
    env = {**feedback_env(postgres_url, feedback_keys, prefix),
           **cluster_env(redis_cluster, postgres_url, prefix),
           "FRAUDOPS_ALERTS_BLOCK_MS": "100"}  # fmt: skip
    for k, v in env.items():
        monkeypatch.setenv(k, v)
    from services.alerts.app import create_app as alerts_app
    from services.feedback.app import create_app as feedback_app

    with TestClient(feedback_app()), TestClient(alerts_app()):
        yield prefix, postgres_url


def test_the_sharded_log_reaches_feedback_and_alerts_once_each(
    redis_cluster: LocalCluster, apps: tuple[str, str]
) -> None:
    prefix, db = apps
    client = RedisCluster.from_url(redis_cluster.url)
    streams = scoring_log.stream_keys(prefix, SHARDS)
    assert len({redis_cluster.owner(client.keyslot(s)) for s in streams}) == 3  # every master
    logged = log_decisions(client, prefix, 300, "sh")
    flagged = {tx for tx, d in logged.items() if d in FLAGGED}
    stored = "SELECT transaction_id, decision FROM scored_transactions"
    assert wait_until(lambda: len(rows(db, stored)) >= len(logged), 30)
    assert wait_until(lambda: len(rows(db, "SELECT id FROM alerts")) >= len(flagged), 30)
    assert dict(rows(db, stored)) == logged  # every decision, as decided
    alerts = [tx for (tx,) in rows(db, "SELECT transaction_id FROM alerts")]
    assert sorted(alerts) == sorted(flagged)  # one alert per flagged decision, none twice
    lengths = {s: int(client.xlen(s)) for s in streams}
    assert all(lengths.values()) and sum(lengths.values()) == len(logged)
    for group in ("feedback", "alerts"):  # every entry delivered once, all acknowledged
        reads = group_reads(client, prefix, group)
        assert reads == {s: (lengths[s], 0, 0) for s in streams}, (group, reads)


class Labeller(threading.Thread):
    """Posts one in-app label per payment, in order; a 503 (nothing stored) is tried again, as a
    client would. ``answers``: (transaction, label, final status, tries)."""

    def __init__(self, url: str, txs: list[tuple[str, str]]) -> None:
        super().__init__(daemon=True)
        self.url, self.txs = url, txs
        self.answers: list[tuple[str, str, int, int]] = []
        self.slowest_s = 0.0

    def run(self) -> None:
        with httpx.Client(base_url=self.url, timeout=30) as http:
            for i, (tx, customer) in enumerate(self.txs):
                value = "fraud" if i % 2 else "legit"
                body = {"transaction_id": tx, "label": value, "source": "in_app"}
                tries = 0
                while True:
                    tries += 1
                    started = time.monotonic()
                    r = http.post("/v1/feedback", json=body, headers=bearer(user_token(customer)))
                    self.slowest_s = max(self.slowest_s, time.monotonic() - started)
                    if r.status_code != 503 or tries == 50:
                        break
                    time.sleep(0.2)
                self.answers.append((tx, value, r.status_code, tries))
                time.sleep(0.01)


@pytest.mark.extended  # make test-cluster
@pytest.mark.slow
def test_labels_posted_while_a_master_is_killed_all_land(
    redis_cluster: LocalCluster, postgres_url: str, feedback_keys: dict[str, str]
) -> None:
    prefix = f"lf{uuid.uuid4().hex[:8]}"
    client = RedisCluster.from_url(redis_cluster.url)
    logged = log_decisions(client, prefix, 240, "fo")
    env = {**feedback_env(postgres_url, feedback_keys, prefix),
           **cluster_env(redis_cluster, postgres_url, prefix)}  # fmt: skip
    server = Server(env, service="feedback")
    try:
        count = "SELECT count(*) FROM scored_transactions"
        assert wait_until(lambda: rows(postgres_url, count)[0][0] == len(logged), 30)
        redis_cluster.wait_replicated()  # the group's reads too: nothing to redo after the kill
        txs = [(tx, f"fo-c{int(tx.split('-')[1]) % 40}") for tx in logged]
        labeller = Labeller(server.url, txs)
        labeller.start()
        assert wait_until(lambda: len(labeller.answers) >= 40, 30)
        # the master of a log shard, and of some customers' profiles and rate-limit keys
        victim = redis_cluster.owner(client.keyslot(scoring_log.stream_keys(prefix, SHARDS)[1]))
        redis_cluster.kill(victim)
        killed_at = len(labeller.answers)
        labeller.join(120)
        assert not labeller.is_alive()
        assert wait_until(lambda: victim not in redis_cluster.masters(), 20)
        pending = (
            "SELECT count(*) FROM labels WHERE profile_label IS NULL OR profile_label <> label"
        )
        assert wait_until(lambda: rows(postgres_url, pending)[0][0] == 0, 60)  # profiles told
    finally:
        out = server.stop()
    assert "Traceback" not in out, out[-3000:]
    statuses = {status for _, _, status, _ in labeller.answers}
    assert statuses <= {200, 201}, labeller.answers
    assert killed_at < len(txs) - 50  # most labels were posted after the kill
    accepted = {(tx, value) for tx, value, _, _ in labeller.answers}
    events = rows(postgres_url, "SELECT transaction_id, label FROM label_events")
    assert sorted(events) == sorted(accepted)  # each once: a 503 had stored nothing
    assert dict(rows(postgres_url, "SELECT transaction_id, label FROM labels")) == dict(accepted)
    # a label never waits out the failover (about 4 s) for its profile update: the loop does
    assert labeller.slowest_s < 2.5, labeller.slowest_s
    retried = sum(1 for *_, tries in labeller.answers if tries > 1)
    print(f"labels: {len(accepted)}, retried after 503: {retried}, "
          f"slowest answer {labeller.slowest_s:.2f} s")  # fmt: skip


@pytest.mark.extended  # make test-cluster
@pytest.mark.slow
def test_the_scoring_services_decisions_reach_feedback_and_alerts_once(
    redis_cluster: LocalCluster, postgres_url: str, feedback_keys: dict[str, str],
    scoring_env: dict[str, str], keys: dict[str, str],
) -> None:  # fmt: skip
    """End to end, three real servers on the cluster: what the scoring service answered is what
    the feedback database holds, and each flagged answer is one alert."""
    from tests.cluster.test_scoring_on_cluster import payment, score_all

    manifest = Path(scoring_env["FRAUDOPS_MODEL_DIR"]) / "m1" / "manifest.json"
    m = json.loads(manifest.read_text())
    m["thresholds"]["review"] = 0.0  # every payment held for review: every answer an alert
    manifest.write_text(json.dumps(m))
    prefix = scoring_env["FRAUDOPS_KEY_PREFIX"]
    env = cluster_env(redis_cluster, postgres_url, prefix)
    servers = [Server({**scoring_env, **env}, workers=2)]
    try:
        servers.append(Server({**feedback_env(postgres_url, feedback_keys, prefix), **env},
                              service="feedback"))  # fmt: skip
        servers.append(Server({**env, "FRAUDOPS_ALERTS_BLOCK_MS": "100"}, service="alerts"))
        answers = score_all(servers[0].url, keys["score"], [payment(i, "e2e") for i in range(300)])
        decided = {a["transaction_id"]: a["decision"] for a in answers}
        stored = "SELECT transaction_id, decision FROM scored_transactions"
        assert wait_until(lambda: len(rows(postgres_url, stored)) >= len(decided), 30)
        client = RedisCluster.from_url(redis_cluster.url)
        assert wait_until(lambda: all(
            lag == 0 and pending == 0 for _, pending, lag in group_reads(client, prefix,
                                                                         "alerts").values()
        ), 30)  # fmt: skip
    finally:
        out = "".join(s.stop() for s in servers)
    assert "Traceback" not in out, out[-3000:]
    assert dict(rows(postgres_url, stored)) == decided
    flagged = sorted(tx for tx, d in decided.items() if d in FLAGGED)
    assert len(flagged) >= len(decided) // 2  # declines, and the rest reviewed
    alerted = sorted(tx for (tx,) in rows(postgres_url, "SELECT transaction_id FROM alerts"))
    assert alerted == flagged
    lengths = {s: int(client.xlen(s)) for s in scoring_log.stream_keys(prefix, SHARDS)}
    assert sum(lengths.values()) == len(decided) and len([n for n in lengths.values() if n]) > 1
    for group in ("feedback", "alerts"):
        assert group_reads(client, prefix, group) == {s: (n, 0, 0) for s, n in lengths.items()}
    print(f"decisions: {len(decided)}, flagged: {len(flagged)}, per stream: {lengths}")
