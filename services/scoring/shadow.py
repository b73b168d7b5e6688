"""Shadow scoring: the ``challenger`` alias's model scores every payment after its answer is out.

The challenger runs in the answer writer (answers.py), on the features already in each queued
scoring-log entry, just before the entry goes to Redis: the answer left at least one event-loop
turn earlier, so the challenger can neither delay nor change a decision. Its verdict is added to
the entry as ``shadow: {model_version, score, decision}`` (the feedback service stores it beside
the production decision; ``fraudops models shadow-report`` compares the two on labelled payments).

CPU budget: the challenger may take ``max_share`` of the worker's time (a token bucket refilled at
``max_share`` seconds per second, holding at most one second's worth); past it a batch's entries go
to the log without a shadow verdict and are counted as skipped. A challenger of another feature
contract is refused at load (logged) and nothing is shadow-scored.

Latency: a chunk of challenger work holds the event loop, so a request arriving meanwhile waits
for it. The challenger therefore computes probabilities only (no reasons: half the work), in small
chunks, and each chunk waits for a moment when this worker serves no request (``Activity``), for
at most ``quiet_wait_s`` per batch: past that (a worker never idle) it runs anyway, so the
answers' writes are never held back longer than that.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from pathlib import Path
from typing import Any

import orjson

from services.scoring.metrics import SHADOW_SCORED, SHADOW_SECONDS, SHADOW_SKIPPED
from services.scoring.model_holder import ModelHolder

log = logging.getLogger("fraudops.scoring")
CHUNK = 8  # entries per model call (~0.1 ms for 400 trees); requests are served between chunks
Queued = tuple[str, bytes, bytes, int]  # answers.Queued (transaction id, answer, entry, shard)
_MARK = b',"shadow":'


class Activity:
    """The score requests this worker is serving now; ``idle`` is set when there are none."""

    def __init__(self) -> None:
        self.busy = 0
        self.idle = asyncio.Event()
        self.idle.set()

    def enter(self) -> None:
        self.busy += 1
        self.idle.clear()

    def leave(self) -> None:
        self.busy -= 1
        if not self.busy:
            self.idle.set()

    async def quiet(self, deadline: float) -> None:
        """Back when no request is in flight, or at ``deadline`` (monotonic) at the latest."""
        while self.busy and (left := deadline - time.monotonic()) > 0:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(left):
                    await self.idle.wait()


class Shadow:
    def __init__(
        self, root: Path, max_share: float, activity: Activity, quiet_wait_s: float = 0.02
    ) -> None:
        self.holder = ModelHolder(root, "challenger", serving=False)
        self.max_share = max_share
        self.activity = activity
        self.quiet_wait_s = quiet_wait_s
        self.credit = max_share  # seconds of CPU the challenger may spend now
        self._last = time.monotonic()

    def _allowed(self) -> bool:
        now = time.monotonic()
        self.credit = min(self.max_share, self.credit + (now - self._last) * self.max_share)
        self._last = now
        return self.credit > 0

    async def apply(self, batch: list[Queued]) -> list[Queued]:
        """The batch with the challenger's verdict in each log entry (where the budget allows)."""
        model = self.holder.current
        todo = [i for i, q in enumerate(batch) if q[2] and _MARK not in q[2]]
        if model is None or not todo or self.max_share <= 0:
            return batch
        out = list(batch)
        deadline = time.monotonic() + self.quiet_wait_s
        for start in range(0, len(todo), CHUNK):
            await asyncio.sleep(0)  # requests already waiting for the loop go first
            await self.activity.quiet(deadline)
            chunk = todo[start : start + CHUNK]
            if not self._allowed():
                SHADOW_SKIPPED.inc(len(chunk))
                continue
            started = time.perf_counter()
            try:
                docs: list[dict[str, Any]] = [orjson.loads(batch[i][2]) for i in chunk]
                probs = model.probabilities([d["features"] for d in docs])
            except Exception as exc:  # a broken challenger must never cost a log entry
                SHADOW_SKIPPED.inc(len(chunk))
                log.error("shadow scoring failed (%s): entries logged without it", exc)
                continue
            for i, doc, p in zip(chunk, docs, probs, strict=True):
                score = float(p)
                verdict = {"model_version": model.version, "score": score,
                           "decision": model.decide(score, bool(doc.get("degraded")))}  # fmt: skip
                t, body, entry, shard = batch[i]
                # the entry is one JSON object: its last byte is the closing brace
                out[i] = (t, body, entry[:-1] + _MARK + orjson.dumps(verdict) + b"}", shard)
            spent = time.perf_counter() - started
            self.credit -= spent
            SHADOW_SECONDS.observe(spent)
            SHADOW_SCORED.inc(len(chunk))
        return out
