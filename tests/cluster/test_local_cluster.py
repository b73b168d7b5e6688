"""The local Redis Cluster every cluster test, bench and user runs: it covers all slots with a
replica per master, and a master killed is replaced by its replica."""

from __future__ import annotations

import time

import pytest
import redis
from redis.cluster import RedisCluster

from tests.cluster.local import LocalCluster

# the failover test in test_scoring_on_cluster.py kills a master too: this one is extended
pytestmark = [pytest.mark.integration, pytest.mark.cluster, pytest.mark.extended]


def test_three_masters_cover_every_slot_and_a_killed_master_fails_over(
    redis_cluster: LocalCluster,
) -> None:
    masters = redis_cluster.masters()
    assert len(masters) == 3
    slots = sorted(s for ranges in masters.values() for a, b in ranges for s in range(a, b + 1))
    assert slots == list(range(16384))
    roles = [redis_cluster.node(p).execute_command("ROLE")[0] for p in redis_cluster.ports]
    assert sorted(roles) == ["master"] * 3 + ["slave"] * 3

    client = RedisCluster.from_url(redis_cluster.url)
    for i in range(300):  # spread over every master
        client.set(f"{{c{i}}}:k", i)
    redis_cluster.wait_replicated()
    victim = next(iter(masters))
    redis_cluster.kill(victim)
    started = time.monotonic()
    while victim in redis_cluster.masters() and time.monotonic() - started < 20:
        time.sleep(0.05)
    redis_cluster.wait_ok()
    failover_s = time.monotonic() - started
    after = redis_cluster.masters()
    assert victim not in after and len(after) == 3, after  # its replica took its slots
    assert sorted(s for r in after.values() for a, b in r for s in range(a, b + 1)) == slots
    assert failover_s < 15, failover_s  # node timeout 2 s: detection, election, promotion
    fresh = RedisCluster.from_url(redis_cluster.url if victim != redis_cluster.port
                                  else f"redis://127.0.0.1:{redis_cluster.port + 1}/0")  # fmt: skip
    # the replica had every write (waited for above: replication is asynchronous)
    assert [int(fresh.get(f"{{c{i}}}:k") or -1) for i in range(300)] == list(range(300))
    with pytest.raises(redis.ConnectionError):
        redis_cluster.node(victim).ping()
