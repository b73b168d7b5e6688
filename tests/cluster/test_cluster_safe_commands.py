"""The Redis commands of the alerts console, the dead-letter outbox and erasure on a real Redis
Cluster: a script's keys share a slot, SCAN runs on every master, streams on every shard."""

from __future__ import annotations

import json
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

import pytest
from redis.cluster import RedisCluster

from fraudops.profile_store.client import ProfileStore
from fraudops.profile_store.commands import StoreConfig
from fraudops.profile_store.layout import answer_key
from fraudops.schema import Txn
from services.alerts.analysts import Analysts, hash_password
from services.alerts.db import Outbox
from services.alerts.db import upgrade as upgrade_alerts
from services.alerts.login_throttle import LoginThrottle
from services.alerts.outbox import OutboxPublisher, dead_letter_key
from services.alerts.sessions import SessionStore
from services.alerts.settings import AlertsSettings
from services.common import scoring_log
from services.common.db import make_engine, session_factory
from tests.cli import run_cli
from tests.cluster.local import LocalCluster

pytestmark = [pytest.mark.integration, pytest.mark.cluster, pytest.mark.extended]
SHARDS = 4


def prefix() -> str:
    return f"cs{uuid.uuid4().hex[:8]}"


def test_login_throttle_and_sessions_on_a_cluster(module_cluster: LocalCluster) -> None:
    client = RedisCluster.from_url(module_cluster.url)
    settings = AlertsSettings(login_max_failures=2, login_max_failures_per_address=3)
    p = prefix()
    throttle = LoginThrottle(client, p, settings)
    for _ in range(2):
        throttle.failed("ana", "10.0.0.1")  # the script: counter and lock of one subject
    kind, left = throttle.locked("ana", "10.0.0.1") or ("", 0.0)
    assert kind == "user" and 0 < left <= 60
    throttle.succeeded("ana")
    assert throttle.locked("ana", "10.0.0.1") is None  # the address has 2 of its 3
    failures, lock = throttle._keys("user", "ana")
    assert client.keyslot(failures) == client.keyslot(lock)

    analysts = Analysts({"ana": hash_password("pw", iterations=1000)})
    sessions = SessionStore(client, p, 60)
    sid = sessions.create("ana", analysts.fingerprint("ana") or "")
    assert sessions.user(sid, analysts) == "ana"
    sessions.delete(sid)
    assert sessions.user(sid, analysts) is None


def test_the_outbox_publishes_once_on_a_cluster(
    module_cluster: LocalCluster, tmp_path: Path
) -> None:
    engine = make_engine(f"sqlite:///{tmp_path}/alerts.db")
    upgrade_alerts(engine)
    sessions = session_factory(engine)
    client = RedisCluster.from_url(module_cluster.url)
    p = prefix()
    publisher = OutboxPublisher(client, sessions, p, AlertsSettings())
    uids = [str(uuid.uuid4()) for _ in range(3)]

    def queue() -> None:
        with sessions.begin() as s:
            for uid in uids:
                s.add(Outbox(uid=uid, alert_key=f"tx:{uid}", fields=json.dumps({"key": uid}),
                             created_at=datetime.now(UTC)))  # fmt: skip

    queue()
    assert publisher.publish() == 3
    queue()  # published, not deleted (a crash in between): published again, adds nothing
    assert publisher.publish() == 0
    assert client.xlen(dead_letter_key(p)) == 3
    engine.dispose()


def test_erase_finds_a_customer_on_every_master(
    module_cluster: LocalCluster, tmp_path: Path
) -> None:
    client = RedisCluster.from_url(module_cluster.url)
    p = prefix()
    store = ProfileStore(client, StoreConfig(prefix=p))
    streams = scoring_log.stream_keys(p, SHARDS)
    now = int(time.time())
    for customer in ("gone", "kept"):
        for i in range(12):  # 12 terminals: their markers and the answers on every master
            tx = Txn(f"{customer}-{i}", now - 100 + i, customer, f"t{i}", 10.0 + i, "EUR")
            store.apply_transaction(tx)
            client.set(answer_key(p, tx.transaction_id), b"{}")
            entry = scoring_log.encode(tx, [1.0], 0.1, "approve", "m1", False, time.time())
            client.xadd(streams[i % SHARDS], {scoring_log.FIELD: entry})  # shards of before

    def keys_of(customer: str) -> list[bytes]:
        return [k for port in module_cluster.masters()
                for k in module_cluster.node(port).scan_iter(match=f"{p}:*")
                if customer in k]  # fmt: skip

    masters = module_cluster.masters()
    assert all(module_cluster.node(port).keys(f"{p}:*gone*") for port in masters)  # on each
    env = {"DATABASE_URL": f"sqlite:///{tmp_path}/feedback.db", "REDIS_URL": module_cluster.url,
           "REDIS_CLUSTER": "true", "FRAUDOPS_KEY_PREFIX": p, "FRAUDOPS_LOG_SHARDS": str(SHARDS),
           "FRAUDOPS_ERASURE_KEY": "erasure-key-for-tests-only-0123456789abcdef"}  # fmt: skip
    r = run_cli("erase", "--customer", "gone", "--settle-s", "0", "--json",
                "--datasets", str(tmp_path / "datasets"), env=env)  # fmt: skip
    assert r.returncode == 0, r.stderr[-3000:]
    removed = json.loads(r.stdout)["removed"]
    assert removed["scoring_log_entries"] == 12, removed
    assert keys_of("gone") == []
    assert len(keys_of("kept")) > 12  # the other customer's keys untouched
    left = [e for s in streams for _, e in client.xrange(s)]
    assert len(left) == 12 and all(b'"kept"' in e[scoring_log.FIELD] for e in left)
