"""The profile store against the real Redis: the Lua script must equal the Python fold exactly."""

from __future__ import annotations

import asyncio
import threading

import pandas as pd
import pytest
import redis
import redis.asyncio as aredis
from redis.cluster import key_slot

from fraudops.features import feature_vector
from fraudops.features.offline import EntityFold, LabelEvent, event_order, point_in_time_features
from fraudops.profile_store.aio import AsyncProfileStore
from fraudops.profile_store.client import ProfileStore
from fraudops.profile_store.commands import StoreConfig
from fraudops.profile_store.layout import (
    DAY,
    KEEP_DAYS,
    PAIR_HORIZON_S,
    dedup_key,
    entity_key,
    label_key,
    transaction_update,
)
from fraudops.profile_store.state import EntityState
from fraudops.readers import epoch_seconds, iter_txns
from fraudops.schema import Txn
from tests.conftest import TEST_REDIS_URL

pytestmark = pytest.mark.integration


def raw_hash(client: redis.Redis, key: str) -> dict[str, int]:
    return {k.decode(): int(v) for k, v in client.hgetall(key).items()}


def replay_events(history: pd.DataFrame, n: int) -> list[Txn | LabelEvent]:
    """The first n transactions with labels: fraud 1 h later, some relabelled legit, some legit."""
    txns = list(iter_txns(history.head(n)))
    events: list[Txn | LabelEvent] = list(txns)
    for i, tx in enumerate(txns):
        fraud = history["is_fraud"].iat[i] == 1
        if fraud or i % 17 == 0:
            events.append(
                LabelEvent(tx.transaction_id, tx.customer_id, tx.terminal_id, tx.ts + 3600, fraud)
            )
        if fraud and i % 3 == 0:  # an analyst overturns it the next day
            events.append(
                LabelEvent(tx.transaction_id, tx.customer_id, tx.terminal_id, tx.ts + DAY, False)
            )
    return sorted(events, key=event_order)


def test_lua_update_equals_python_fold_event_by_event(
    redis_client: redis.Redis, store_config: StoreConfig, small_history: pd.DataFrame
) -> None:
    store = ProfileStore(redis_client, store_config)
    folds: dict[tuple[str, str], EntityFold] = {}
    offline = point_in_time_features(
        small_history.head(6000),
        [e for e in replay_events(small_history, 6000) if isinstance(e, LabelEvent)],
    ).set_index("transaction_id")
    compared = 0
    for event in replay_events(small_history, 6000):
        c = folds.setdefault(("customer", event.customer_id), EntityFold("customer"))
        t = folds.setdefault(("terminal", event.terminal_id), EntityFold("terminal"))
        if isinstance(event, Txn):
            profiles = store.apply_transaction(event)
            assert profiles.applied
            # online features from the state Redis returned == offline features of the same tx
            online = feature_vector(event, profiles.customer, profiles.terminal)
            assert online == list(offline.loc[event.transaction_id]), event.transaction_id
            assert profiles.customer.to_hash() == c.state.to_hash()
            assert profiles.terminal.to_hash() == t.state.to_hash()
            c.transaction(event)
            t.transaction(event)
            compared += 1
        else:
            deltas = store.apply_label(
                event.transaction_id,
                event.customer_id,
                event.terminal_id,
                event.arrival_ts,
                event.is_fraud,
            )
            assert deltas == (c.label(event), t.label(event))
        key_c = entity_key(store_config.prefix, "customer", event.customer_id)
        key_t = entity_key(store_config.prefix, "terminal", event.terminal_id)
        assert raw_hash(redis_client, key_c) == c.state.to_hash()
        assert raw_hash(redis_client, key_t) == t.state.to_hash()
    assert compared == 6000


def test_a_transaction_is_counted_once(
    redis_client: redis.Redis, store_config: StoreConfig
) -> None:
    store = ProfileStore(redis_client, store_config)
    tx = Txn("dup-1", 1_600_000_000, "cust", "term", 12.34)
    first = store.apply_transaction(tx)
    second = store.apply_transaction(tx)
    assert first.applied and not second.applied
    customer, terminal = store.read("cust", "term")
    assert customer.window_sum("dn", 0, 10**9) == 1
    assert customer.window_sum("da", 0, 10**9) == 12340
    assert terminal.window_sum("dn", 0, 10**9) == 1
    assert second.customer.to_hash() == customer.to_hash()


def test_concurrent_duplicates_and_concurrent_distinct_payments(
    redis_client: redis.Redis, store_config: StoreConfig
) -> None:
    txs = [Txn(f"c{i}", 1_600_000_000 + i, "busy", f"t{i % 3}", 1.0 + i) for i in range(60)]
    applied: list[bool] = []
    lock = threading.Lock()

    def worker() -> None:
        store = ProfileStore(redis.Redis.from_url(TEST_REDIS_URL), store_config)
        for tx in txs:  # every thread sends every transaction: each must count once
            result = store.apply_transaction(tx).applied
            with lock:
                applied.append(result)

    threads = [threading.Thread(target=worker) for _ in range(6)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    assert sum(applied) == 60 and len(applied) == 360
    customer = ProfileStore(redis_client, store_config).read_entity("customer", "busy")
    assert customer.window_sum("dn", 0, 10**9) == 60
    assert customer.window_sum("da", 0, 10**9) == sum(round(t.amount * 1000) for t in txs)
    assert customer.last_ts == txs[-1].ts


def test_labels_count_net_of_relabelling(
    redis_client: redis.Redis, store_config: StoreConfig
) -> None:
    store = ProfileStore(redis_client, store_config)
    at = 1_600_000_000
    assert store.apply_label("x1", "c", "t", at, True) == (1, 1)
    assert store.apply_label("x1", "c", "t", at + 10, True) == (0, 0)  # same label again
    assert store.apply_label("x1", "c", "t", at + DAY, False) == (-1, -1)
    assert store.apply_label("x2", "c", "t", at, False) == (0, 0)  # a legit label counts nothing
    terminal = store.read_entity("terminal", "t")
    assert terminal.series["df"].as_dict() == {at // DAY: 1, at // DAY + 1: -1}
    assert redis_client.ttl(label_key(store_config.prefix, "terminal", "t", "x1")) > 0


def test_old_buckets_are_pruned_and_ttl_is_set(
    redis_client: redis.Redis, store_config: StoreConfig
) -> None:
    store = ProfileStore(redis_client, store_config)
    t0 = 1_600_000_000
    store.apply_transaction(Txn("old", t0, "c", "t", 5.0))
    store.apply_transaction(Txn("new", t0 + (KEEP_DAYS + 1) * DAY, "c", "t", 7.0))
    fields = raw_hash(redis_client, entity_key(store_config.prefix, "customer", "c"))
    assert f"d:{t0 // DAY}:n" not in fields and f"m:{t0 // 60}:n" not in fields
    assert fields["last"] == t0 + (KEEP_DAYS + 1) * DAY
    assert "p:t" in fields  # still within the 90-day pair horizon
    assert (
        0
        < redis_client.ttl(entity_key(store_config.prefix, "customer", "c"))
        <= store_config.profile_ttl_s
    )


def test_pruning_a_large_profile_equals_the_python_fold(
    redis_client: redis.Redis, store_config: StoreConfig
) -> None:
    """More pair fields than one Lua ``unpack`` takes (8,000), about half of them stale."""
    t = 1_600_000_000 + (KEEP_DAYS + 3) * DAY
    fields: dict[str, int] = {"last": t - 60, "z": t // DAY - 1}
    for i in range(9_000):  # pairs on both sides of the 90-day horizon
        fields[f"p:t{i}"] = t - PAIR_HORIZON_S + (i - 4_000) * 60
    for g, width, keep in (("m", 60, 1_500), ("h", 3_600, 700), ("d", DAY, 60)):
        for b in range(t // width - keep, t // width):
            fields[f"{g}:{b}:n"] = 1 + b % 3
            fields[f"{g}:{b}:a"] = 1_000 * (1 + b % 5)
    store = ProfileStore(redis_client, store_config)
    store.write_state("customer", "c", EntityState.from_hash(fields))
    expected = EntityState.from_hash(fields)
    tx = Txn("prune-big", t, "c", "t-new", 12.5)
    expected.apply(transaction_update(tx, "customer"))
    assert store.apply_transaction(tx).applied
    after = raw_hash(redis_client, entity_key(store_config.prefix, "customer", "c"))
    assert after == expected.to_hash()
    assert 0 < sum(k.startswith("p:") for k in after) < 9_000  # both kinds of pairs were there


def test_script_is_reloaded_after_script_flush(
    redis_client: redis.Redis, store_config: StoreConfig
) -> None:
    store = ProfileStore(redis_client, store_config)
    redis_client.script_flush()
    assert store.apply_transaction(Txn("after-flush", 1_600_000_000, "c", "t", 1.0)).applied


def test_keys_of_one_entity_share_a_cluster_slot() -> None:
    for entity in ("42", "odd{id}", "with:colons"):
        key = entity_key("fo", "customer", entity)
        slots = {
            key_slot(k.encode())
            for k in (
                key,
                dedup_key("fo", "customer", entity, "tx9"),
                label_key("fo", "customer", entity, "tx9"),
            )
        }
        assert len(slots) == 1, entity
    assert key_slot(entity_key("fo", "customer", "1").encode()) != key_slot(
        entity_key("fo", "customer", "2").encode()
    )


def test_write_state_replaces_and_converges(
    redis_client: redis.Redis, store_config: StoreConfig
) -> None:
    store = ProfileStore(redis_client, store_config)
    fold = EntityFold("customer")
    for i in range(5):
        fold.transaction(Txn(f"w{i}", 1_600_000_000 + i * 3600, "c", f"t{i}", 10.0 + i))
    store.apply_transaction(Txn("stale", 1_500_000_000, "c", "zz", 99.0))
    store.write_state("customer", "c", fold.state)
    store.write_state("customer", "c", fold.state)
    assert store.read_entity("customer", "c").to_hash() == fold.state.to_hash()


def test_async_client_matches_sync(
    redis_client: redis.Redis, store_config: StoreConfig, small_history: pd.DataFrame
) -> None:
    events = replay_events(small_history, 800)
    sync_cfg = StoreConfig(prefix=store_config.prefix + "s")
    async_cfg = StoreConfig(prefix=store_config.prefix + "a")
    sync_store = ProfileStore(redis_client, sync_cfg)
    expected = []
    for e in events:
        if isinstance(e, Txn):
            p = sync_store.apply_transaction(e)
            expected.append((p.customer.to_hash(), p.terminal.to_hash()))
        else:
            expected.append(
                sync_store.apply_label(
                    e.transaction_id, e.customer_id, e.terminal_id, e.arrival_ts, e.is_fraud
                )
            )

    async def run() -> list[object]:
        client = aredis.Redis.from_url(TEST_REDIS_URL)
        store = AsyncProfileStore(client, async_cfg)
        out: list[object] = []
        try:
            for e in events:
                if isinstance(e, Txn):
                    p = await store.apply_transaction(e)
                    out.append((p.customer.to_hash(), p.terminal.to_hash()))
                else:
                    out.append(
                        await store.apply_label(
                            e.transaction_id, e.customer_id, e.terminal_id, e.arrival_ts, e.is_fraud
                        )
                    )
            c, t = await store.read(events[0].customer_id, events[0].terminal_id)
            assert c.to_hash() and t.to_hash()
        finally:
            await client.aclose()
        return out

    try:
        assert asyncio.run(run()) == expected
    finally:
        for cfg in (sync_cfg, async_cfg):
            keys = list(redis_client.scan_iter(match=f"{cfg.prefix}:*", count=1000))
            for i in range(0, len(keys), 1000):
                redis_client.delete(*keys[i : i + 1000])


def test_empty_profiles_read_as_empty_state(
    redis_client: redis.Redis, store_config: StoreConfig
) -> None:
    customer, terminal = ProfileStore(redis_client, store_config).read("nobody", "nowhere")
    assert customer.to_hash() == {} and terminal.to_hash() == {}
    assert isinstance(customer, EntityState)
    assert epoch_seconds(pd.Series(pd.to_datetime(["1970-01-01T00:00:01Z"]))).tolist() == [1]
