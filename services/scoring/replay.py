"""Degraded payments counted in the profiles once Redis answers again.

A payment answered without Redis (degraded) was not counted in its customer's and terminal's
profiles, and its answer and scoring-log entry were not stored. They wait here (bounded: past
``capacity`` they are dropped and counted) and are written, idempotently, after recovery.
"""

from __future__ import annotations

import asyncio
import collections
import logging
from typing import Any

from redis.exceptions import RedisError

from fraudops.profile_store.commands import StoreConfig, tx_commands
from fraudops.schema import Txn
from services.scoring.answers import AnswerStore
from services.scoring.breaker import Breaker
from services.scoring.metrics import REPLAY_DROPPED, REPLAY_PENDING, REPLAYED
from services.scoring.profiles import ProfileReader
from services.scoring.profiles import failed as did_fail

log = logging.getLogger("fraudops.scoring")


class DegradedReplay:
    def __init__(
        self,
        *,
        reader: ProfileReader,
        answers: AnswerStore,
        cfg: StoreConfig,
        breaker: Breaker,
        capacity: int,
        budget_s: float,
    ) -> None:
        self.reader = reader
        self.answers = answers
        self.cfg = cfg
        self.breaker = breaker
        self.capacity = capacity
        self.budget_s = budget_s
        self.items: collections.deque[tuple[Txn, bytes, bytes]] = collections.deque()

    def __len__(self) -> int:
        return len(self.items)

    def keep(self, payments: list[tuple[Txn, bytes, bytes]]) -> None:
        """(payment, answer, scoring-log entry) to write once Redis is back."""
        for item in payments:
            if len(self.items) >= self.capacity:
                REPLAY_DROPPED.inc()
                continue
            self.items.append(item)
        REPLAY_PENDING.set(len(self.items))

    async def replay(self, batch: int = 200) -> int:
        """Count degraded payments in Redis (idempotent) and store their answers; returns count.
        On a cluster part of a batch may land while a node is away: only the rest is retried
        (an answer or log entry written twice would be a doubled decision downstream)."""
        done = 0
        while self.items and self.breaker.allows():
            items = [self.items[i] for i in range(min(batch, len(self.items)))]
            commands: list[list[Any]] = []
            spans: list[tuple[int, int, int]] = []  # per item: log, store, profile commands end
            for tx, body, entry in items:
                if entry:
                    commands.append(
                        self.answers.log_command(entry, self.answers.log_shard(tx.customer_id))
                    )
                log_end = len(commands)
                if body:
                    commands.append(self.answers.store_command(tx.transaction_id, body))
                store_end = len(commands)
                commands += tx_commands(self.cfg, tx)
                spans.append((log_end, store_end, len(commands)))
            try:
                replies = await self.reader.write_each(commands, self.budget_s)
            except (TimeoutError, RedisError, OSError) as exc:
                self.breaker.failure(hard=not isinstance(exc, TimeoutError))
                break
            left: list[tuple[Txn, bytes, bytes]] = []
            start = 0
            for (tx, body, entry), (log_end, store_end, end) in zip(items, spans, strict=True):
                failed = [did_fail(r) for r in replies[start:end]]
                start_store, start_tx = log_end - start, store_end - start
                if any(failed):  # keep what did not land; counting again is a no-op
                    left.append((tx, body if any(failed[start_store:start_tx]) else b"",
                                 entry if any(failed[:start_store]) else b""))  # fmt: skip
                start = end
            for _ in items:
                self.items.popleft()
            self.items.extendleft(reversed(left))
            done += len(items) - len(left)
            if left:
                self.breaker.failure(hard=True)
                break
        if done:
            REPLAYED.inc(done)
            REPLAY_PENDING.set(len(self.items))
            log.info("counted %d degraded payment(s) in the profiles after recovery", done)
        return done

    async def run(self, every_s: float = 0.5) -> None:
        while True:
            await asyncio.sleep(every_s)
            if self.items:
                await self.replay()
