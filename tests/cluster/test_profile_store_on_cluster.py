"""The profile store (sync and asyncio) on a real Redis Cluster: the same profiles and answers as
on one Redis, and the parity test's online side (Beam backfill + replay) on the cluster."""

from __future__ import annotations

import asyncio
import uuid
from pathlib import Path

import pytest
import redis
from redis.asyncio.cluster import RedisCluster as AsyncRedisCluster
from redis.cluster import RedisCluster

from fraudops.local_cluster import LocalCluster
from fraudops.profile_store.aio import AsyncProfileStore
from fraudops.profile_store.client import ProfileStore
from fraudops.profile_store.commands import StoreConfig
from fraudops.profile_store.routing import slot_of
from fraudops.profile_store.state import EntityState
from fraudops.redis_clients import sync_client
from fraudops.schema import Txn
from fraudops.simulator import SimulationConfig
from tests.pipelines.test_parity import check_parity

pytestmark = [pytest.mark.integration, pytest.mark.cluster, pytest.mark.slow, pytest.mark.extended]

DAY0 = 1_764_000_000


def stream(tag: str, n: int = 120) -> list[Txn]:
    """Payments of 9 customers at 4 terminals, a few seconds to hours apart, some resent."""
    txs = [
        Txn(f"{tag}-{i}", DAY0 + i * 997, f"{tag}-c{i % 9}", f"{tag}-t{i % 4}", 5.0 + i % 70)
        for i in range(n)
    ]
    return txs + txs[::10]  # duplicates: counted once


def same(a: EntityState, b: EntityState) -> bool:
    return a.to_hash() == b.to_hash()


def test_store_on_a_cluster_equals_one_redis(
    module_cluster: LocalCluster, redis_client: redis.Redis, store_config: StoreConfig
) -> None:
    cluster = sync_client(module_cluster.url, cluster=True, socket_timeout=5)
    assert isinstance(cluster, RedisCluster)
    single = ProfileStore(redis_client, store_config)
    sharded = ProfileStore(cluster, StoreConfig(prefix=store_config.prefix))
    txs = stream("st")
    # the entities are spread over every master
    owners = {module_cluster.owner(slot_of(f"{{{c}}}")) for c in {t.customer_id for t in txs}}
    assert len(owners) >= 2
    for tx in txs:
        a, b = single.apply_transaction(tx), sharded.apply_transaction(tx)
        assert a.applied == b.applied
        assert same(a.customer, b.customer) and same(a.terminal, b.terminal), tx
    for i, tx in enumerate(txs[:30]):
        args = (tx.transaction_id, tx.customer_id, tx.terminal_id, tx.ts + 3 * 86400, i % 3 == 0)
        assert single.apply_label(*args) == sharded.apply_label(*args)
    for tx in txs[:20]:
        assert all(
            same(x, y)
            for x, y in zip(
                single.read(tx.customer_id, tx.terminal_id),
                sharded.read(tx.customer_id, tx.terminal_id),
                strict=True,
            )
        )
    state = single.read_entity("customer", "st-c1")
    sharded.write_state("customer", "st-moved", state)
    assert same(sharded.read_entity("customer", "st-moved"), state)
    # the script is loaded where it is missing (a fresh or promoted master), nothing doubled
    for port in module_cluster.masters():
        module_cluster.node(port).script_flush()
    extra = Txn("st-extra", DAY0 + 200_000, "st-c2", "st-t3", 12.0)
    assert single.apply_transaction(extra).applied
    assert sharded.apply_transaction(extra).applied
    assert same(single.read_entity("customer", "st-c2"), sharded.read_entity("customer", "st-c2"))
    cluster.close()


def test_async_store_on_a_cluster_equals_one_redis(
    module_cluster: LocalCluster, redis_client: redis.Redis, store_config: StoreConfig
) -> None:
    single = ProfileStore(redis_client, store_config)

    async def run() -> list[tuple[bool, dict[str, int], dict[str, int]]]:
        client = AsyncRedisCluster.from_url(module_cluster.url)
        store = AsyncProfileStore(client, StoreConfig(prefix=f"a{uuid.uuid4().hex[:8]}"))
        out = []
        for tx in stream("as", 60):
            p = await store.apply_transaction(tx)
            out.append((p.applied, p.customer.to_hash(), p.terminal.to_hash()))
        assert store.cluster is not None
        await store.cluster.aclose()
        await client.aclose()
        return out

    got = asyncio.run(run())
    for tx, (applied, customer, terminal) in zip(stream("as", 60), got, strict=True):
        p = single.apply_transaction(tx)
        assert (p.applied, p.customer.to_hash(), p.terminal.to_hash()) == (
            applied,
            customer,
            terminal,
        )


@pytest.mark.timeout(600)
def test_parity_online_side_on_a_cluster(tmp_path: Path, module_cluster: LocalCluster) -> None:
    """Beam backfill into the cluster, then the replay through the store on the cluster: the
    features equal the offline dataset's (one representative case of the parity test)."""
    cfg = SimulationConfig(customers=80, terminals=160, days=45, seed=11, card_testing_per_day=8)
    client = sync_client(module_cluster.url, cluster=True, socket_timeout=5)
    store = ProfileStore(client, StoreConfig(prefix=f"par{uuid.uuid4().hex[:8]}"))
    compared, risky = check_parity(tmp_path, cfg, store, module_cluster.url, True, 10)
    assert compared >= 1_000 and risky > 10
    client.close()
