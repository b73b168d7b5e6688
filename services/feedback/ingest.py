"""Scoring log -> SQL: the feedback service's consumer group on the scoring service's stream.

Rows are committed before their entries are acknowledged (services.common.stream); the insert
ignores a transaction already stored, so a redelivered entry changes nothing. A malformed entry
is counted, logged by id and acknowledged (it can never succeed). With the database down nothing
is acknowledged and the batch is retried.
"""

from __future__ import annotations

import logging
from typing import Any

from sqlalchemy.orm import Session, sessionmaker

from fraudops.redis_clients import UNAVAILABLE, SyncClient
from services.common import scoring_log
from services.common.stream import Entry, StreamConsumer
from services.feedback import store
from services.feedback.metrics import BACKGROUND_ERRORS, LOG_BACKLOG, LOG_INGESTED, LOG_MALFORMED

log = logging.getLogger("fraudops.feedback")


class ScoringLogIngestor(StreamConsumer):
    def __init__(
        self,
        client: SyncClient,
        sessions: sessionmaker[Session],
        prefix: str,
        group: str,
        consumer: str,
        batch: int = 1000,
        claim_idle_ms: int = 30_000,
        *,
        shards: int = 1,
    ) -> None:
        super().__init__(client, prefix, group, consumer, batch, claim_idle_ms, shards=shards)
        self.sessions = sessions

    def handle(self, entries: list[Entry]) -> int:
        """Returns the entries taken (a repeated payment counts, its row is stored once)."""
        rows: dict[str, dict[str, Any]] = {}
        for entry_id, fields in entries:
            try:
                row = scoring_log.decode(fields[scoring_log.FIELD])
            except (KeyError, ValueError, TypeError) as exc:
                LOG_MALFORMED.inc()
                log.error(
                    "scoring-log entry %s unreadable (%s): acknowledged, not stored",
                    entry_id.decode(),
                    type(exc).__name__,
                )
                continue
            rows.setdefault(row["transaction_id"], row)  # first decision of a payment wins
        with self.sessions.begin() as session:
            store.insert_scored(session, list(rows.values()))
        LOG_INGESTED.inc(len(rows))
        return len(rows)

    def drain(self, max_batches: int = 100, block_ms: int | None = None) -> int:
        done = super().drain(max_batches, block_ms)
        try:
            LOG_BACKLOG.set(self.lag())
        except UNAVAILABLE as exc:  # the gauge keeps its last value; the next drain retries
            BACKGROUND_ERRORS.labels("scoring_log_backlog").inc()
            log.warning("scoring-log backlog unknown: %s", type(exc).__name__)
        return done
