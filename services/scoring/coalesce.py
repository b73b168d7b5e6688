"""Concurrent score requests of one worker share one Redis round trip and one model call.

Requests that reach the scorer in the same event-loop turn are flushed together on the next
turn: at low load a batch is one payment and nothing waits; under load the per-request cost of
the Redis client and of the model call is paid once per batch. Order within a batch is arrival
order, so two payments of one customer are applied in the order they came.
"""

from __future__ import annotations

import asyncio
import contextvars
from typing import Any

from fraudops.schema import Txn
from models.runtime import ScoringModel
from services.common.logs import request_id
from services.scoring.engine import Scorer

MAX_BATCH = 64
Item = tuple[ScoringModel, Txn, str, "asyncio.Future[bytes | None]"]  # model, payment, request id


class Coalescer:
    def __init__(self, scorer: Scorer, max_batch: int = MAX_BATCH) -> None:
        self.scorer = scorer
        self.max_batch = max_batch
        self._pending: list[Item] = []
        self._tasks: set[asyncio.Task[Any]] = set()

    async def score(self, model: ScoringModel, tx: Txn, request_id: str) -> bytes:
        loop = asyncio.get_running_loop()
        future: asyncio.Future[bytes | None] = loop.create_future()
        self._pending.append((model, tx, request_id, future))
        if len(self._pending) == 1:
            loop.call_soon(self._flush, context=contextvars.Context())
        body = await future
        if body is None:  # a duplicate of a payment still being scored elsewhere
            return await self.scorer.answers.wait_for(tx.transaction_id)
        return body

    def _flush(self) -> None:
        pending, self._pending = self._pending, []
        groups: dict[str, list[Item]] = {}
        for item in pending:  # normally one model; during a hot-swap, two
            groups.setdefault(item[0].version, []).append(item)
        for items in groups.values():
            for start in range(0, len(items), self.max_batch):
                group = items[start : start + self.max_batch]
                # the group's log lines name its first request (as they name its first payment)
                first = group[0][2] if len(group) == 1 else f"{group[0][2]}+{len(group) - 1}"
                request_id.set(first)  # in _flush's own context, copied by the task
                task = asyncio.create_task(self._run(group))
                self._tasks.add(task)
                task.add_done_callback(self._tasks.discard)

    async def _run(self, items: list[Item]) -> None:
        model = items[0][0]
        try:
            bodies = await self.scorer.score_items(
                model, [tx for _, tx, _, _ in items], [r for _, _, r, _ in items],
                self.scorer.budget_s,
            )  # fmt: skip
        except Exception as exc:  # every waiting request gets the error
            for *_, future in items:
                if not future.done():
                    future.set_exception(exc)
            return
        for (*_, future), body in zip(items, bodies, strict=True):
            if not future.done():
                future.set_result(body)
