"""A consumer-group reader of the scoring log (Redis Streams: one, or ``shards``), at least once.

A subclass stores or delivers a batch in ``handle``; the batch is acknowledged only when
``handle`` returns, so entries of a consumer killed mid-batch stay pending and are taken over by
another consumer of the group once idle for ``claim_idle_ms`` (a restarted worker has a new name).

Redis can lose the group (a restart without persistence, FLUSHALL, the key evicted): the next
read answers ``NOGROUP``. The consumer then creates the group again (from the start of whatever
the stream holds now: the handlers are idempotent), counts it in
``fraudops_stream_groups_recreated_total{group}`` and reads on. A drain that fails is counted in
``failures`` (reset by the next one that succeeds); ``failing`` tells readiness that the consumer
keeps failing.

A sharded log (``FRAUDOPS_LOG_SHARDS`` > 1: one stream per shard, each in its own slot of a Redis
Cluster) is read stream by stream, each command naming one stream; a drain takes what every
stream holds, then blocks on them in turn (``block_ms`` shared out) when none held anything. The
unsharded stream of before is read too, until it is empty and gone.
"""

from __future__ import annotations

import logging
import threading
from typing import Any

from prometheus_client import Counter
from redis.exceptions import ResponseError

from fraudops.redis_clients import SyncClient
from services.common import scoring_log

Entry = tuple[bytes, dict[bytes, bytes]]
log = logging.getLogger("fraudops.stream")
GROUPS_RECREATED = Counter(
    "fraudops_stream_groups_recreated_total",
    "Consumer groups created again after Redis lost them (restart without persistence, "
    "FLUSHALL, eviction)",
    ["group"],
)


def group_lost(exc: ResponseError) -> bool:
    """The group (or the whole stream) is gone: ``NOGROUP``, or a blocked read unblocked because
    the stream key was deleted."""
    return str(exc).startswith(("NOGROUP", "UNBLOCKED"))


class StreamConsumer:
    def __init__(
        self,
        client: SyncClient,
        prefix: str,
        group: str,
        consumer: str,
        batch: int = 1000,
        claim_idle_ms: int = 30_000,
        failing_after: int = 3,
        *,
        shards: int = 1,
    ) -> None:
        self.redis = client
        self.streams = scoring_log.consumer_keys(prefix, shards)
        self.group, self.consumer, self.batch = group, consumer, batch
        self.claim_idle_ms = claim_idle_ms
        self.failing_after = failing_after  # drains failed in a row before ``failing``
        self.failures = 0  # drains failed in a row (0 after one that succeeds)
        self.last_error: str | None = None  # the exception type of the last failed drain
        self._lock = threading.Lock()  # a background loop and a request may both drain
        self._ready: set[str] = set()  # streams whose group is known to exist
        self._lost: set[str] = set()  # streams whose group was lost: creating it is counted

    @property
    def failing(self) -> bool:
        """The consumer keeps failing: its last ``failing_after`` drains raised."""
        return self.failures >= self.failing_after

    def trouble(self) -> str | None:
        """What readiness says while the consumer keeps failing (None while it does not)."""
        if not self.failing:
            return None
        return f"scoring-log consumer failing ({self.failures} drains in a row, {self.last_error})"

    def handle(self, entries: list[Entry]) -> int:
        """Store/deliver the entries; return how many count (raise to leave them pending)."""
        raise NotImplementedError

    def drain(self, max_batches: int = 100, block_ms: int | None = None) -> int:
        """Handle what the stream holds for this group now (abandoned and own pending entries
        first); ``block_ms``: wait that long for new entries when there are none. A lost group
        is created again and the drain goes on."""
        with self._lock:
            try:
                done = self._drain_recovering(max_batches, block_ms)
            except Exception as exc:
                self._failed(exc)
                raise
            if self.failing:
                log.info("consumer %s of group %s recovered", self.consumer, self.group)
            self.failures, self.last_error = 0, None
            return done

    def _drain_recovering(self, max_batches: int, block_ms: int | None) -> int:
        done = 0
        for stream in self.streams:
            done += self._drain_one(stream, max_batches)
        if done or not block_ms:
            return done
        wait = max(1, block_ms // len(self.streams))  # nothing anywhere: wait on each in turn
        for stream in self.streams:
            if done := self._drain_one(stream, max_batches, wait):
                break
        return done

    def _drain_one(self, stream: str, max_batches: int, block_ms: int | None = None) -> int:
        try:
            return self._drain(stream, max_batches, block_ms)
        except ResponseError as exc:
            if not group_lost(exc):
                raise
        self._ready.discard(stream)
        self._lost.add(stream)
        return self._drain(stream, max_batches, block_ms)

    def _drain(self, stream: str, max_batches: int, block_ms: int | None) -> int:
        self._ensure_group(stream)
        done = self._claim_abandoned(stream)
        for start in ("0", ">"):  # "0": delivered to this consumer before, not acknowledged
            for _ in range(max_batches):
                blocking = block_ms if start == ">" and not done else None
                got = self._read(stream, start, blocking)
                if not got:
                    break
                done += self._handle(stream, got)
        return done

    def _failed(self, exc: Exception) -> None:
        self.failures += 1
        self.last_error = type(exc).__name__
        if self.failures == self.failing_after:
            log.error(
                "consumer %s of group %s failing: %d drains in a row failed (%s)",
                self.consumer, self.group, self.failures, self.last_error,
            )  # fmt: skip

    def _handle(self, stream: str, entries: list[Entry]) -> int:
        live = [e for e in entries if e[1]]  # no fields: deleted after delivery (erasure, trim)
        n = self.handle(live) if live else 0
        self.redis.xack(stream, self.group, *[e[0] for e in entries])
        return n

    def _ensure_group(self, stream: str) -> None:
        if stream in self._ready:
            return
        try:
            self.redis.xgroup_create(stream, self.group, id="0", mkstream=True)
        except ResponseError as exc:
            if "BUSYGROUP" not in str(exc):  # BUSYGROUP: it exists (another consumer made it)
                raise
        else:
            if stream in self._lost:
                GROUPS_RECREATED.labels(self.group).inc()
                log.warning(
                    "consumer group %s of %s was lost (Redis lost its data?): created again",
                    self.group, stream,
                )  # fmt: skip
        self._ready.add(stream)
        self._lost.discard(stream)

    def _claim_abandoned(self, stream: str) -> int:
        done, start = 0, "0-0"
        while True:
            reply: Any = self.redis.xautoclaim(
                stream, self.group, self.consumer, self.claim_idle_ms, start, count=self.batch
            )
            start, entries = reply[0], reply[1]
            if entries:
                done += self._handle(stream, entries)
            if start in (b"0-0", "0-0") or not reply[1]:
                return done

    def _read(self, stream: str, start: str, block_ms: int | None = None) -> list[Entry]:
        reply: Any = self.redis.xreadgroup(
            self.group, self.consumer, {stream: start}, count=self.batch, block=block_ms
        )
        return list(reply[0][1]) if reply else []

    def lag(self) -> int:
        """Entries not yet handled by the group (never delivered + pending), over its streams."""
        total = 0
        for stream in self.streams:
            for g in self.redis.xinfo_groups(stream):
                name = g["name"].decode() if isinstance(g["name"], bytes) else g["name"]
                if name == self.group:
                    total += int(g.get("lag") or 0) + int(g.get("pending") or 0)
        return total
