"""A consumer-group reader of the scoring log (Redis Stream), at least once.

A subclass stores or delivers a batch in ``handle``; the batch is acknowledged only when
``handle`` returns, so entries of a consumer killed mid-batch stay pending and are taken over by
another consumer of the group once idle for ``claim_idle_ms`` (a restarted worker has a new name).
"""

from __future__ import annotations

import threading
from typing import Any

import redis
from redis.exceptions import ResponseError

from services.common import scoring_log

Entry = tuple[bytes, dict[bytes, bytes]]


class StreamConsumer:
    def __init__(
        self,
        client: redis.Redis,
        prefix: str,
        group: str,
        consumer: str,
        batch: int = 1000,
        claim_idle_ms: int = 30_000,
    ) -> None:
        self.redis = client
        self.stream = scoring_log.stream_key(prefix)
        self.group, self.consumer, self.batch = group, consumer, batch
        self.claim_idle_ms = claim_idle_ms
        self._lock = threading.Lock()  # a background loop and a request may both drain
        self._group_ready = False

    def handle(self, entries: list[Entry]) -> int:
        """Store/deliver the entries; return how many count (raise to leave them pending)."""
        raise NotImplementedError

    def drain(self, max_batches: int = 100, block_ms: int | None = None) -> int:
        """Handle what the stream holds for this group now (abandoned and own pending entries
        first); ``block_ms``: wait that long for new entries when there are none."""
        with self._lock:
            self._ensure_group()
            done = self._claim_abandoned()
            for start in ("0", ">"):  # "0": delivered to this consumer before, not acknowledged
                for _ in range(max_batches):
                    got = self._read(start, block_ms if start == ">" and not done else None)
                    if not got:
                        break
                    done += self._handle(got)
            return done

    def _handle(self, entries: list[Entry]) -> int:
        live = [e for e in entries if e[1]]  # no fields: deleted after delivery (erasure, trim)
        n = self.handle(live) if live else 0
        self.redis.xack(self.stream, self.group, *[e[0] for e in entries])
        return n

    def _ensure_group(self) -> None:
        if self._group_ready:
            return
        try:
            self.redis.xgroup_create(self.stream, self.group, id="0", mkstream=True)
        except ResponseError as exc:
            if "BUSYGROUP" not in str(exc):
                raise
        self._group_ready = True

    def _claim_abandoned(self) -> int:
        done, start = 0, "0-0"
        while True:
            reply: Any = self.redis.xautoclaim(
                self.stream, self.group, self.consumer, self.claim_idle_ms, start, count=self.batch
            )
            start, entries = reply[0], reply[1]
            if entries:
                done += self._handle(entries)
            if start in (b"0-0", "0-0") or not reply[1]:
                return done

    def _read(self, start: str, block_ms: int | None = None) -> list[Entry]:
        reply: Any = self.redis.xreadgroup(
            self.group, self.consumer, {self.stream: start}, count=self.batch, block=block_ms
        )
        return list(reply[0][1]) if reply else []

    def lag(self) -> int:
        """Entries not yet handled by the group (never delivered + pending)."""
        for g in self.redis.xinfo_groups(self.stream):
            name = g["name"].decode() if isinstance(g["name"], bytes) else g["name"]
            if name == self.group:
                return int(g.get("lag") or 0) + int(g.get("pending") or 0)
        return 0
