"""Retention of the scoring log: decisions older than the retention period leave the Redis
stream and the feedback database (with their label events and labels).

The period must outlast the longest label delay that still matters (chargebacks arrive up to
120 days after the payment and more): the default is 400 days. Dataset versions already built
keep their own immutable copies; they follow the datasets' own retention.
"""

from __future__ import annotations

from collections import Counter
from datetime import datetime

from sqlalchemy.orm import Session, sessionmaker

from fraudops.redis_clients import SyncClient
from services.common import scoring_log
from services.feedback import store
from services.feedback.db import ScoredTransaction


def purge_scoring_log(
    sessions: sessionmaker[Session],
    client: SyncClient | None,
    prefix: str,
    older_than: datetime,
    batch: int = 5000,
    log_shards: int = 1,
) -> Counter[str]:
    """Remove what was scored before ``older_than``; returns the rows/entries removed per store.

    SQL goes in batches of ``batch`` payments, each its own transaction (no long lock on a large
    table); the stream is trimmed by entry id, which is the time the entry was added."""
    removed: Counter[str] = Counter()
    if client is not None:
        minid = f"{int(older_than.timestamp() * 1000)}-0"
        removed["scoring_log_entries"] = sum(
            int(client.xtrim(stream, minid=minid, approximate=False))
            for stream in scoring_log.consumer_keys(prefix, log_shards)
        )
    while True:
        with sessions.begin() as session:
            pairs, counts = store.delete_scored(
                session, ScoredTransaction.scored_at < older_than, limit=batch
            )
        removed.update(counts)
        if len(pairs) < batch:
            return removed
