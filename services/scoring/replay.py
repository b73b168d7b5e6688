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
        """Count degraded payments in Redis (idempotent) and store their answers; returns count."""
        done = 0
        while self.items and self.breaker.allows():
            items = [self.items[i] for i in range(min(batch, len(self.items)))]
            commands: list[list[Any]] = []
            for tx, body, entry in items:
                if entry:
                    commands.append(self.answers.log_command(entry))
                commands.append(self.answers.store_command(tx.transaction_id, body))
                commands += tx_commands(self.cfg, tx)
            try:
                await self.reader.write(commands, self.budget_s)
            except (TimeoutError, RedisError, OSError) as exc:
                self.breaker.failure(hard=not isinstance(exc, TimeoutError))
                break
            for _ in items:
                self.items.popleft()
            done += len(items)
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
