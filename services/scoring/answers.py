"""Stored answers and the scoring log, written behind the answer (write-behind).

An answer goes out first; it is stored under its transaction id (``SET NX``: the first answer stays
the answer) together with its scoring-log entry (``XADD``) by one background writer, in batches,
at most ``write_every_s`` later: storing costs a request neither a round trip nor much CPU. Until
then a repeat of the payment is answered from memory (``unflushed``). When Redis refuses a write
the batch is kept (bounded) and written after the breaker's cool-down.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any

from redis.exceptions import RedisError

from fraudops.profile_store import layout
from fraudops.profile_store.commands import StoreConfig
from services.common import scoring_log
from services.scoring.breaker import Breaker
from services.scoring.metrics import LOG_DROPPED, STAGE_SECONDS
from services.scoring.profiles import AdminRedis, ProfileReader

log = logging.getLogger("fraudops.scoring")
_WRITE = STAGE_SECONDS.labels("write_batch")

WRITE_BATCH = 500
Command = list[Any]
# (transaction id, answer or b"" once stored, scoring-log entry or b"", the entry's log shard)
Queued = tuple[str, bytes, bytes, int]


class Busy(Exception):
    """The same transaction id is being scored by another request right now."""


class AnswerStore:
    def __init__(
        self,
        *,
        reader: ProfileReader,
        admin: AdminRedis,
        cfg: StoreConfig,
        breaker: Breaker,
        capacity: int,
        write_budget_s: float,
        duplicate_wait_s: float,
        read_budget_s: float,
        log_maxlen: int = scoring_log.MAXLEN,
        write_every_s: float = 0.002,
        log_shards: int = 1,
    ) -> None:
        self.reader = reader
        self.admin = admin  # the rare duplicate wait
        self.cfg = cfg
        self.breaker = breaker
        self.capacity = capacity
        self.write_budget_s = write_budget_s
        self.duplicate_wait_s = duplicate_wait_s
        self.read_budget_s = read_budget_s
        self.log_maxlen = log_maxlen  # 0: no scoring log
        self.write_every_s = write_every_s
        self.log_shards = log_shards
        self.log_streams = scoring_log.stream_keys(cfg.prefix, log_shards)
        self.pending: list[Queued] = []
        # the shadow challenger (shadow.py): adds its verdict to log entries before they are written
        self.shadow: Callable[[list[Queued]], Awaitable[list[Queued]]] | None = None
        self.unflushed: dict[str, bytes] = {}  # the same answers by transaction id
        self._flush_soon = asyncio.Event()
        self._stopping = False

    @property
    def logging_enabled(self) -> bool:
        return self.log_maxlen > 0

    # --- commands -------------------------------------------------------------------------------
    def store_command(self, transaction_id: str, body: bytes) -> Command:
        # NX: the first answer stays the answer (a reused id never overwrites it)
        key = layout.answer_key(self.cfg.prefix, transaction_id)
        return ["SET", key, body, "NX", "EX", self.cfg.dedup_ttl_s]

    def log_shard(self, customer_id: str) -> int:
        return scoring_log.shard_of(customer_id, self.log_shards)

    def log_command(self, entry: bytes, shard: int) -> Command:
        """``XADD`` to the customer's stream (``log_shard``); each stream keeps about
        ``log_maxlen`` / shards entries, so the log as a whole keeps ``log_maxlen``."""
        cap = max(1, self.log_maxlen // self.log_shards)
        stream = self.log_streams[shard]
        return ["XADD", stream, "MAXLEN", "~", cap, "*", scoring_log.FIELD, entry]

    # --- the writer -----------------------------------------------------------------------------
    def queue(self, answers: list[Queued]) -> None:
        self.pending.extend(answers)
        for t, body, _, _ in answers:
            self.unflushed.setdefault(t, body)  # the first answer stays the answer
        if len(self.pending) >= WRITE_BATCH or not self._flush_soon.is_set():
            self._flush_soon.set()

    async def run(self) -> None:
        """The writer task: flush queued answers every ``write_every_s`` or when many wait.

        Stopped by ``stop`` (not by cancellation, which Python 3.11's asyncio.timeout can
        swallow), after a last flush."""
        while not self._stopping:
            await self._flush_soon.wait()
            if not self._stopping:
                await asyncio.sleep(self.write_every_s)
            self._flush_soon.clear()
            await self.flush()

    def stop(self) -> None:
        self._stopping = True
        self._flush_soon.set()

    async def flush(self) -> None:
        while self.pending:
            batch = self.pending[:WRITE_BATCH]
            del self.pending[:WRITE_BATCH]
            if self.shadow is not None:
                batch = await self.shadow(batch)
            started = time.perf_counter()
            commands: list[Command] = []
            owners: list[tuple[int, bool]] = []  # (batch index, is the log entry)
            for i, (t, body, entry, shard) in enumerate(batch):
                if body:  # b"": stored already, only its log entry left to write
                    commands.append(self.store_command(t, body))
                    owners.append((i, False))
                if entry:
                    commands.append(self.log_command(entry, shard))
                    owners.append((i, True))
            try:
                replies = await self.reader.write_each(commands, self.write_budget_s)
            except (TimeoutError, RedisError, OSError) as exc:
                self.breaker.failure(hard=not isinstance(exc, TimeoutError))
                self._requeue(batch, type(exc).__name__)
                await asyncio.sleep(max(self.breaker.cooldown_s, self.write_every_s))
                return
            # SET and XADD only (no EXEC answer to look into): a failure is an error reply
            failed = {
                owner: r
                for owner, r in zip(owners, replies, strict=True)
                if isinstance(r, Exception)
            }
            if failed:  # part of a cluster away: retry only what did not land (no doubles)
                self.breaker.failure(hard=True)
                retry = [(t, body if (i, False) in failed else b"",
                          entry if (i, True) in failed else b"", shard)
                         for i, (t, body, entry, shard) in enumerate(batch)
                         if (i, False) in failed or (i, True) in failed]  # fmt: skip
                for i, (t, *_) in enumerate(batch):
                    if (i, False) not in failed:
                        self.unflushed.pop(t, None)
                self._requeue(retry, type(next(iter(failed.values()))).__name__)
                await asyncio.sleep(max(self.breaker.cooldown_s, self.write_every_s))
                return
            for t, *_ in batch:
                self.unflushed.pop(t, None)
            _WRITE.observe(time.perf_counter() - started)

    def _requeue(self, batch: list[Queued], why: str) -> None:
        """Keep unwritten entries for the next flush (bounded): the scoring log must not lose a
        decision because Redis blinked; past the bound they are dropped and counted."""
        room = max(0, self.capacity - len(self.pending))
        kept, dropped = batch[:room], len(batch) - min(room, len(batch))
        self.pending[:0] = kept
        for t, *_ in batch[room:]:
            self.unflushed.pop(t, None)
        self._flush_soon.set()  # retried after the breaker's cool-down (see flush)
        if dropped:
            LOG_DROPPED.inc(dropped)
        log.warning("%d answer(s)/log entries not written yet (%s), %d dropped", len(batch), why,
                    dropped)  # fmt: skip

    # --- a repeat of a payment being scored elsewhere -------------------------------------------
    async def wait_for(self, tx_id: str) -> bytes:
        """The first answer of a payment another request is scoring right now; Busy when it
        does not come within ``duplicate_wait_s``."""
        deadline = time.monotonic() + self.duplicate_wait_s
        delay = 0.001
        while time.monotonic() < deadline:
            await asyncio.sleep(delay)
            delay = min(delay * 2, 0.02)
            if (mine := self.unflushed.get(tx_id)) is not None:
                return mine  # answered here, its write to Redis still pending (or failing)
            try:
                async with asyncio.timeout(self.read_budget_s):
                    found = await self.admin.get(layout.answer_key(self.cfg.prefix, tx_id))
            except (TimeoutError, RedisError, OSError):
                break
            if found is not None:
                return found if isinstance(found, bytes) else str(found).encode()
        raise Busy(tx_id)
