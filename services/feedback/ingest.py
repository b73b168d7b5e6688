"""Scoring log -> SQL: a consumer group on the scoring service's stream.

Entries are acknowledged only after the rows are committed, so a consumer killed mid-batch leaves
them pending and the next start (any consumer of the group) stores them; the insert ignores rows
already stored. A malformed entry is counted, logged by id and acknowledged (it can never
succeed). With the database down nothing is acknowledged and the batch is retried.
"""

from __future__ import annotations

import logging
import threading
from typing import Any

import redis
from redis.exceptions import ResponseError
from sqlalchemy.orm import Session, sessionmaker

from services.common import scoring_log
from services.feedback import store
from services.feedback.metrics import LOG_BACKLOG, LOG_INGESTED, LOG_MALFORMED

log = logging.getLogger("fraudops.feedback")


class ScoringLogIngestor:
    def __init__(
        self,
        client: redis.Redis,
        sessions: sessionmaker[Session],
        prefix: str,
        group: str,
        consumer: str,
        batch: int = 1000,
        claim_idle_ms: int = 30_000,
    ) -> None:
        self.claim_idle_ms = claim_idle_ms
        self.redis, self.sessions = client, sessions
        self.stream = scoring_log.stream_key(prefix)
        self.group, self.consumer, self.batch = group, consumer, batch
        self._lock = threading.Lock()  # the sync loop and a request may both drain
        self._group_ready = False

    def _ensure_group(self) -> None:
        if self._group_ready:
            return
        try:
            self.redis.xgroup_create(self.stream, self.group, id="0", mkstream=True)
        except ResponseError as exc:
            if "BUSYGROUP" not in str(exc):
                raise
        self._group_ready = True

    def drain(self, max_batches: int = 100) -> int:
        """Store what the stream holds for this group now (abandoned and own pending entries
        first); returns the entries taken (a repeated payment counts, its row is stored once)."""
        with self._lock:
            self._ensure_group()
            stored = self._claim_abandoned()
            for start in ("0", ">"):  # "0": delivered to this consumer before, not acknowledged
                for _ in range(max_batches):
                    got = self._read(start)
                    if not got:
                        break
                    stored += self._store(got)
            self._backlog()
            return stored

    def _claim_abandoned(self) -> int:
        """Entries a consumer that died (a restarted worker has a new name) read but never
        acknowledged: taken over once idle for ``claim_idle_ms``, then stored."""
        stored, start = 0, "0-0"
        while True:
            reply: Any = self.redis.xautoclaim(
                self.stream, self.group, self.consumer, self.claim_idle_ms, start, count=self.batch
            )
            start, entries = reply[0], [e for e in reply[1] if e[1] is not None]
            if entries:
                stored += self._store(entries)
            if start in (b"0-0", "0-0") or not reply[1]:
                return stored

    def _read(self, start: str) -> list[tuple[bytes, dict[bytes, bytes]]]:
        reply: Any = self.redis.xreadgroup(
            self.group, self.consumer, {self.stream: start}, count=self.batch
        )
        return list(reply[0][1]) if reply else []

    def _store(self, entries: list[tuple[bytes, dict[bytes, bytes]]]) -> int:
        rows, ids = {}, []
        for entry_id, fields in entries:
            ids.append(entry_id)
            try:
                row = scoring_log.decode(fields[scoring_log.FIELD])
            except (KeyError, ValueError, TypeError) as exc:
                LOG_MALFORMED.inc()
                log.error("scoring-log entry %s unreadable (%s): acknowledged, not stored",
                          entry_id.decode(), type(exc).__name__)  # fmt: skip
                continue
            rows.setdefault(row["transaction_id"], row)  # first decision of a payment wins
        with self.sessions.begin() as session:
            store.insert_scored(session, list(rows.values()))
        self.redis.xack(self.stream, self.group, *ids)
        LOG_INGESTED.inc(len(rows))
        return len(rows)

    def _backlog(self) -> None:
        try:
            for g in self.redis.xinfo_groups(self.stream):
                if g["name"].decode() == self.group:
                    lag = g.get("lag")
                    LOG_BACKLOG.set((lag or 0) + int(g.get("pending", 0)))
        except (ResponseError, KeyError, AttributeError):
            pass
