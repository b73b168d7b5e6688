"""The scoring log's consumer: a consumer that dies mid-batch loses nothing; nothing is stored
twice; an unreadable entry is acknowledged and counted, not retried for ever."""

from __future__ import annotations

import pytest
import redis
from sqlalchemy import func, select

from fraudops.profile_store.commands import StoreConfig
from services.common import scoring_log
from services.feedback.db import ScoredTransaction, make_engine, session_factory, upgrade
from services.feedback.ingest import ScoringLogIngestor
from services.feedback.metrics import LOG_MALFORMED
from tests.feedback.conftest import log_scored

pytestmark = pytest.mark.integration


def test_consumer_killed_mid_batch_then_another_takes_over(
    database_url: str, redis_client: redis.Redis, store_config: StoreConfig
) -> None:
    engine = make_engine(database_url)
    upgrade(engine)
    sessions = session_factory(engine)
    prefix, stream = store_config.prefix, scoring_log.stream_key(store_config.prefix)
    for i in range(25):
        log_scored(redis_client, prefix, f"k-{i}", f"cust-{i % 3}")
    log_scored(redis_client, prefix, "k-3")  # the log is at-least-once: a repeat
    redis_client.xadd(stream, {scoring_log.FIELD: b"{not json"})

    first = ScoringLogIngestor(redis_client, sessions, prefix, "feedback", "worker-a", batch=10)
    first._ensure_group(stream)
    taken = first._read(stream, ">")  # read, then the process dies before storing/acknowledging
    assert len(taken) == 10

    # a restarted worker has another name; it takes over what worker-a left once it is idle
    second = ScoringLogIngestor(redis_client, sessions, prefix, "feedback", "worker-b",
                                batch=10, claim_idle_ms=0)  # fmt: skip
    assert second.drain() == 26  # entries taken: the repeat too (the table keeps one row)
    assert second.drain() == 0
    with sessions() as s:
        assert s.scalar(select(func.count()).select_from(ScoredTransaction)) == 25
        row = s.get(ScoredTransaction, "k-7")
        assert row is not None and row.decision == "review" and row.model_version == "m1"
        assert float(row.amount) == 12.345 and row.customer_id == "cust-1"
    groups = {g["name"].decode(): g for g in redis_client.xinfo_groups(stream)}
    assert groups["feedback"]["pending"] == 0  # everything acknowledged, the bad entry too
    engine.dispose()


def test_entries_deleted_while_pending_are_acknowledged_not_stored(
    redis_client: redis.Redis, store_config: StoreConfig, tmp_path: object
) -> None:
    """An erasure (XDEL) or a retention trim can remove entries a consumer holds unacknowledged:
    both the owner and a consumer claiming them must move on (no error, nothing pending)."""
    engine = make_engine(f"sqlite:///{tmp_path}/feedback.db")
    upgrade(engine)
    sessions = session_factory(engine)
    prefix, stream = store_config.prefix, scoring_log.stream_key(store_config.prefix)
    for i in range(12):
        log_scored(redis_client, prefix, f"d-{i}")
    owner = ScoringLogIngestor(redis_client, sessions, prefix, "feedback", "owner", batch=6)
    owner._ensure_group(stream)
    taken = owner._read(stream, ">")  # six delivered to the owner, which stops before storing them
    redis_client.xdel(stream, *[e[0] for e in taken[:4]])
    malformed = LOG_MALFORMED._value.get()
    assert owner.drain() == 8  # its two live pending entries, then six never delivered
    claimer = ScoringLogIngestor(redis_client, sessions, prefix, "feedback", "claimer",
                                 claim_idle_ms=0)  # fmt: skip
    lost = owner._read(stream, ">")  # nothing left to deliver
    assert lost == [] and claimer.drain() == 0
    groups = {g["name"].decode(): g for g in redis_client.xinfo_groups(stream)}
    assert groups["feedback"]["pending"] == 0
    assert LOG_MALFORMED._value.get() == malformed  # gone, not unreadable: no error logged
    with sessions() as s:
        assert s.scalar(select(func.count()).select_from(ScoredTransaction)) == 8
    engine.dispose()
