"""Named lists in the real Redis (fraudops/rules/lists.py): create, add, remove, delete with an
audit entry and a version bump in the same script; values checked by kind, naming the refused
one; every key in one cluster slot; snapshots consistent while changes run in other threads."""

from __future__ import annotations

import re
import threading

import pytest
import redis
from redis.crc import key_slot

from fraudops.profile_store.commands import StoreConfig
from fraudops.rules.lists import (
    ListCache,
    ListError,
    ListExists,
    ListStore,
    NoSuchList,
    normalise,
)

pytestmark = pytest.mark.integration


@pytest.fixture
def store(redis_client: redis.Redis, store_config: StoreConfig) -> ListStore:
    return ListStore(redis_client, store_config.prefix)


def test_crud_audit_and_version(store: ListStore, redis_client: redis.Redis) -> None:
    assert store.version() == 0 and store.snapshot() == (0, {})
    assert store.create("bad_terms", "terminal", "ana", "ring seen on Friday").version == 1
    with pytest.raises(ListExists, match="list 'bad_terms' exists"):
        store.create("bad_terms", "customer", "bob", "again")
    change = store.add("bad_terms", ["t1", " t2 ", "t1"], "ana", "compromised")
    assert (change.version, change.changed) == (2, ("t1", "t2"))
    assert store.add("bad_terms", ["t2"], "ana", "again").changed == ()  # nothing new: no bump
    assert store.version() == 2
    assert store.remove("bad_terms", ["t2", "t9"], "bob", "cleared").changed == ("t2",)
    assert store.members("bad_terms") == frozenset({"t1"})
    assert store.snapshot() == (3, {"bad_terms": frozenset({"t1"})})
    [info] = store.lists()
    assert (info.name, info.kind, info.size, info.created_by) == ("bad_terms", "terminal", 1, "ana")
    # one hash tag: every key of the lists in one cluster slot
    keys = list(redis_client.scan_iter(match=f"{store.base}:*"))
    assert len(keys) == 4 and len({key_slot(k) for k in keys}) == 1
    assert store.delete("bad_terms", "bob", "ring closed").version == 4
    assert store.snapshot() == (4, {})
    with pytest.raises(NoSuchList):
        store.add("bad_terms", ["t1"], "ana", "x")
    # the audit trail outlives the list: newest first, who / what / values / why / when
    audit = store.audit("bad_terms")
    assert [(e.action, e.who, e.values, e.reason, e.count, e.version) for e in audit] == [
        ("delete", "bob", (), "ring closed", 1, 4),
        ("remove", "bob", ("t2",), "cleared", 1, 3),
        ("add", "ana", ("t1", "t2"), "compromised", 2, 2),
        ("create", "ana", (), "ring seen on Friday", 0, 1),
    ]
    assert audit[0].when >= audit[-1].when >= info.created_at


def test_a_change_needs_who_and_a_reason(store: ListStore) -> None:
    store.create("vip", "customer", "ana", "top customers")
    with pytest.raises(ListError, match="a reason is required"):
        store.add("vip", ["c1"], "ana", "  ")
    with pytest.raises(ListError, match="who is required"):
        store.add("vip", ["c1"], "", "x")
    assert store.version() == 1 and len(store.audit("vip")) == 1


@pytest.mark.parametrize(
    ("kind", "good", "bad", "why"),
    [
        ("customer", ["c-1", "josé@x"], "c 1", "not a customer id"),
        ("terminal", ["T.1"], "t{1}", "not a terminal id"),
        ("country", ["fr", "XK"], "ZZ", "not an ISO 3166-1 alpha-2 country code"),
        ("mcc", ["5411"], "541", "an MCC is 4 digits"),
        ("bin_range", ["400000-400099", "12345678-12345678"], "400100-400099", "FIRST <= LAST"),
        ("bin_range", ["400000-400099"], "4000-4999", "6-8 digit BINs"),
    ],
)
def test_values_are_checked_by_kind(
    store: ListStore, kind: str, good: list[str], bad: str, why: str
) -> None:
    store.create("l", kind, "ana", "test")
    assert len(store.add("l", good, "ana", "ok").changed) == len(good)
    with pytest.raises(ListError, match=re.escape(f"value 1 {bad!r}: ") + f".*{why}"):
        store.add("l", [good[0], bad], "ana", "one bad value refuses the change")
    assert store.members("l") == frozenset(normalise(kind, good))  # nothing of it stored


def test_names_and_kinds_are_checked(store: ListStore) -> None:
    for name in ("Bad", "1x", "a-b", "x" * 64, ""):
        with pytest.raises(ListError, match="list name"):
            store.create(name, "customer", "ana", "x")
    with pytest.raises(ListError, match="list kind 'bin': one of customer, terminal"):
        store.create("ok", "bin", "ana", "x")
    assert store.version() == 0


def test_snapshots_stay_consistent_under_concurrent_changes(store: ListStore) -> None:
    """Each change adds one value, so a snapshot at version v must hold exactly the values of
    the first v - 1 changes (the list's creation is version 1)."""
    store.create("seen", "customer", "ana", "x")
    writers, per_writer = 4, 50
    errors: list[BaseException] = []

    def write(w: int) -> None:
        try:
            for i in range(per_writer):
                store.add("seen", [f"c{w}-{i}"], f"w{w}", "load")
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=write, args=(w,)) for w in range(writers)]
    for t in threads:
        t.start()
    snapshots = []
    while any(t.is_alive() for t in threads):
        snapshots.append(store.snapshot())
    for t in threads:
        t.join()
    assert not errors
    for version, lists in snapshots:
        assert len(lists["seen"]) == version - 1
    total = writers * per_writer
    assert store.snapshot()[0] == total + 1 == store.version()
    assert len(store.members("seen")) == total
    assert len(store.audit("seen", 10_000)) == total + 1


def test_the_cache_reads_again_only_when_the_version_moved(
    store: ListStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    cache = ListCache(store)
    store.create("vip", "customer", "ana", "x")
    snapshots = []
    real = store.snapshot
    monkeypatch.setattr(store, "snapshot", lambda: snapshots.append(1) or real())
    for _ in range(3):
        assert cache.at(store.version()) == {"vip": frozenset()}
    store.add("vip", ["c1"], "ana", "x")
    assert cache.at(store.version()) == {"vip": frozenset({"c1"})}
    assert len(snapshots) == 2
