"""The hot path: one Redis round trip, the core features, the model, the decision, the answer.

Per payment, one pipeline carries ``GET`` of a stored answer and, per entity, ``MULTI; HGETALL;
EVALSHA; EXEC`` (the state just before this payment and the atomic update with its dedup
marker). The answer is then stored under the transaction id, so a repeat gets the same answer and
the profiles count the payment once. A repeat that arrives while the first is still being scored
waits for that first answer.

Fail policy when Redis is slow or down (time budget exceeded, connection refused, ...): answer
from request-only features (empty profiles = the contract's defaults) with ``degraded: true``,
never an automatic decline (review at most), and keep the payment in a bounded replay buffer that
counts it in the profiles once Redis answers again. After a failure Redis is skipped for
``breaker_s`` so an outage does not cost every request its full budget.
"""

from __future__ import annotations

import asyncio
import collections
import logging
import time
from dataclasses import dataclass
from typing import Any

import orjson
import redis.asyncio as aredis
from redis.exceptions import RedisError

from fraudops.features import feature_vector
from fraudops.profile_store import layout
from fraudops.profile_store.commands import (
    SCRIPT,
    StoreConfig,
    needs_script,
    parse_tx_replies,
    tx_commands,
)
from fraudops.profile_store.state import EntityState
from fraudops.schema import Txn
from models.runtime import ScoringModel, reasons
from services.common import scoring_log
from services.scoring.metrics import (
    DECISIONS,
    DEGRADED,
    DUPLICATES,
    LOG_DROPPED,
    REPLAY_DROPPED,
    REPLAY_PENDING,
    REPLAYED,
    SCORES,
    STAGE_SECONDS,
)
from services.scoring.wire import RedisWire

log = logging.getLogger("fraudops.scoring")
EMPTY = EntityState()
_PROFILES = STAGE_SECONDS.labels("profiles")
_FEATURES = STAGE_SECONDS.labels("features")
_MODEL = STAGE_SECONDS.labels("model")
_WRITE = STAGE_SECONDS.labels("write_batch")


WRITE_BATCH = 500
BATCH_CHUNK = 32  # payments of a batch request scored per round trip (about 5 ms of CPU)


class Busy(Exception):
    """The same transaction id is being scored by another request right now."""


def answer_key(cfg: StoreConfig, transaction_id: str) -> str:
    return layout.answer_key(cfg.prefix, transaction_id)


@dataclass
class Breaker:
    """Skips Redis for ``cooldown_s`` after it refused a connection or timed out repeatedly.

    A single slow reply under load only degrades its own request; after the cool-down the next
    request tries again and one success closes the breaker.
    """

    cooldown_s: float
    threshold: int = 3
    failures: int = 0
    open_until: float = 0.0

    def allows(self) -> bool:
        return time.monotonic() >= self.open_until

    def failure(self, hard: bool) -> None:
        self.failures += 1
        if hard or self.failures >= self.threshold:
            self.open_until = time.monotonic() + self.cooldown_s

    def success(self) -> None:
        self.failures = 0


class Scorer:
    def __init__(
        self,
        client: aredis.Redis,
        wire: RedisWire,
        cfg: StoreConfig,
        budget_s: float,
        batch_budget_s: float,
        breaker_s: float,
        replay_capacity: int,
        duplicate_wait_s: float,
        log_maxlen: int = scoring_log.MAXLEN,
        write_every_s: float = 0.002,
    ) -> None:
        self.redis = client  # script loading and the rare duplicate wait
        self.wire = wire  # every hot-path round trip
        self.cfg = cfg
        self.budget_s, self.batch_budget_s = budget_s, batch_budget_s
        self.breaker = Breaker(breaker_s)
        self.replay: collections.deque[tuple[Txn, bytes, bytes]] = collections.deque()
        self.replay_capacity = replay_capacity
        self.duplicate_wait_s = duplicate_wait_s
        self.log_maxlen = log_maxlen  # 0: no scoring log
        self.write_every_s = write_every_s  # answers reach Redis at most this long after
        # (transaction id, answer, scoring-log entry) waiting for the writer
        self.pending_answers: list[tuple[str, bytes, bytes]] = []
        # the same answers by transaction id: a repeat is answered from here, not from Redis
        self.unflushed: dict[str, bytes] = {}
        self.log_stream = scoring_log.stream_key(cfg.prefix)
        self._flush_soon = asyncio.Event()
        self._stopping = False

    # --- Redis ----------------------------------------------------------------------------------
    async def _send(self, commands: list[list[Any]]) -> list[Any]:
        """One round trip on the pipelined hot-path connection; error replies come back as
        exception objects in the list."""
        return await self.wire.call(commands)

    async def _pipeline(self, commands: list[list[Any]]) -> list[Any]:
        replies: list[Any] = []
        for _attempt in (0, 1):
            replies = await self._send(commands)
            if not needs_script(replies):
                return replies
            await self.redis.script_load(SCRIPT)
        return replies

    async def _profiles(
        self, txs: list[Txn], budget_s: float
    ) -> tuple[list[bytes | None], list[Any]] | str:
        """Per payment: (stored answer, Profiles); or the reason Redis could not be used."""
        if not self.breaker.allows():
            return "breaker_open"
        commands: list[list[Any]] = []
        for tx in txs:
            commands.append(["GET", answer_key(self.cfg, tx.transaction_id)])
            commands += tx_commands(self.cfg, tx)
        started = time.perf_counter()
        try:
            async with asyncio.timeout(budget_s):
                replies = await self._pipeline(commands)
        except TimeoutError:
            self.breaker.failure(hard=False)
            return "timeout"
        except (RedisError, OSError) as exc:
            self.breaker.failure(hard=True)
            log.warning("redis unavailable: %s", type(exc).__name__)
            return "unavailable"
        self.breaker.success()
        _PROFILES.observe(time.perf_counter() - started)
        stored, profiles = [], []
        try:
            for i in range(len(txs)):
                block = replies[i * 9 : (i + 1) * 9]
                stored.append(block[0] if isinstance(block[0], bytes) else None)
                profiles.append(parse_tx_replies(block[1:]))
        except (RedisError, ValueError, TypeError) as exc:
            log.error("unexpected redis reply: %s", exc)
            return "bad_reply"
        return stored, profiles

    def _store_answers(self, answers: list[tuple[str, bytes, bytes]]) -> None:
        """Queue answers and their scoring-log entries for the writer: it stores them in batches
        (one round trip for many requests), so storing costs a request neither a round trip nor
        much CPU."""
        self.pending_answers.extend(answers)
        for t, body, _ in answers:
            self.unflushed.setdefault(t, body)  # the first answer stays the answer
        if len(self.pending_answers) >= WRITE_BATCH or not self._flush_soon.is_set():
            self._flush_soon.set()

    async def write_answers(self) -> None:
        """The writer task: flush queued answers every ``write_every_s`` or when many wait.

        Stopped by ``stop_writer`` (not by cancellation, which Python 3.11's asyncio.timeout
        can swallow), after a last flush."""
        while not self._stopping:
            await self._flush_soon.wait()
            if not self._stopping:
                await asyncio.sleep(self.write_every_s)
            self._flush_soon.clear()
            await self.flush_answers()

    def stop_writer(self) -> None:
        self._stopping = True
        self._flush_soon.set()

    async def flush_answers(self) -> None:
        while self.pending_answers:
            batch = self.pending_answers[:WRITE_BATCH]
            del self.pending_answers[:WRITE_BATCH]
            started = time.perf_counter()
            ttl = self.cfg.dedup_ttl_s
            commands: list[list[Any]] = []
            for t, body, entry in batch:
                # NX: the first answer stays the answer (a reused id never overwrites it)
                commands.append(["SET", answer_key(self.cfg, t), body, "NX", "EX", ttl])
                if entry:
                    commands.append(self._log_command(entry))
            try:
                async with asyncio.timeout(max(self.batch_budget_s, 1.0)):
                    replies = await self._send(commands)
                for reply in replies:
                    if isinstance(reply, Exception):
                        raise reply
            except (TimeoutError, RedisError, OSError) as exc:
                self.breaker.failure(hard=not isinstance(exc, TimeoutError))
                self._requeue(batch, type(exc).__name__)
                await asyncio.sleep(max(self.breaker.cooldown_s, self.write_every_s))
                return
            for t, _, _ in batch:
                self.unflushed.pop(t, None)
            _WRITE.observe(time.perf_counter() - started)

    def _log_command(self, entry: bytes) -> list[Any]:
        cap = self.log_maxlen
        return ["XADD", self.log_stream, "MAXLEN", "~", cap, "*", scoring_log.FIELD, entry]

    def _requeue(self, batch: list[tuple[str, bytes, bytes]], why: str) -> None:
        """Keep unwritten entries for the next flush (bounded): the scoring log must not lose a
        decision because Redis blinked; past the bound they are dropped and counted."""
        room = max(0, self.replay_capacity - len(self.pending_answers))
        kept, dropped = batch[:room], len(batch) - min(room, len(batch))
        self.pending_answers[:0] = kept
        for t, _, _ in batch[room:]:
            self.unflushed.pop(t, None)
        self._flush_soon.set()  # retried after the breaker's cool-down (see flush_answers)
        if dropped:
            LOG_DROPPED.inc(dropped)
        log.warning("%d answer(s)/log entries not written yet (%s), %d dropped", len(batch), why,
                    dropped)  # fmt: skip

    async def wait_for_answer(self, tx_id: str) -> bytes:
        deadline = time.monotonic() + self.duplicate_wait_s
        delay = 0.001
        while time.monotonic() < deadline:
            await asyncio.sleep(delay)
            delay = min(delay * 2, 0.02)
            if (mine := self.unflushed.get(tx_id)) is not None:
                return mine  # answered here, its write to Redis still pending (or failing)
            try:
                async with asyncio.timeout(self.budget_s):
                    found = await self.redis.get(answer_key(self.cfg, tx_id))
            except (TimeoutError, RedisError, OSError):
                break
            if found is not None:
                return bytes(found)
        raise Busy(tx_id)

    # --- scoring ------------------------------------------------------------------------------
    def _answer(
        self,
        model: ScoringModel,
        txs: list[Txn],
        states: list[tuple[EntityState, EntityState]],
        degraded: bool,
    ) -> list[tuple[bytes, bytes]]:
        """Per payment: the JSON answer and its scoring-log entry."""
        started = time.perf_counter()
        now = time.time()
        rows = [feature_vector(tx, c, t) for tx, (c, t) in zip(txs, states, strict=True)]
        after_features = time.perf_counter()
        _FEATURES.observe(after_features - started)
        probs, contribs = model.score(rows)
        _MODEL.observe(time.perf_counter() - after_features)
        out = []
        for tx, row, p, c in zip(txs, rows, probs, contribs, strict=True):
            score = float(p)
            decision = model.decide(score, degraded)
            DECISIONS.labels(decision, "true" if degraded else "false").inc()
            SCORES.observe(score)
            top = [
                {"feature": r.feature, "value": r.value, "contribution": round(r.contribution, 6)}
                for r in reasons(row, c)
            ]
            answer = {
                "transaction_id": tx.transaction_id,
                "score": round(score, 6),
                "decision": decision,
                "model_version": model.version,
                "reasons": top,
                "degraded": degraded,
            }
            entry = (
                scoring_log.encode(tx, row, score, decision, model.version, degraded, now, top)
                if self.log_maxlen
                else b""
            )
            out.append((orjson.dumps(answer), entry))
        return out

    def _degrade(self, model: ScoringModel, txs: list[Txn], reason: str) -> list[bytes]:
        DEGRADED.labels(reason).inc(len(txs))
        log.warning(
            "degraded answer (%s) for %d payment(s), first %s",
            reason,
            len(txs),
            txs[0].transaction_id,
        )
        answers = self._answer(model, txs, [(EMPTY, EMPTY)] * len(txs), degraded=True)
        for tx, (body, entry) in zip(txs, answers, strict=True):
            if len(self.replay) >= self.replay_capacity:
                REPLAY_DROPPED.inc()
                continue
            self.replay.append((tx, body, entry))
        REPLAY_PENDING.set(len(self.replay))
        return [body for body, _ in answers]

    async def score(self, model: ScoringModel, txs: list[Txn]) -> list[bytes]:
        """JSON answers, in order, for payments of one request.

        A large batch goes in chunks of ``BATCH_CHUNK``, one round trip each: its features and
        model run on the event loop, and 1,000 payments at once held every other request of the
        worker for about 200 ms (single payments then missed their Redis budget)."""
        budget = self.budget_s if len(txs) == 1 else self.batch_budget_s
        answers: list[bytes | None] = []
        for start in range(0, len(txs), BATCH_CHUNK):
            # a repeat in a later chunk finds the first one's answer in ``unflushed``
            answers += await self.score_items(model, txs[start : start + BATCH_CHUNK], budget)
        for i, body in enumerate(answers):
            if body is None:
                answers[i] = await self.wait_for_answer(txs[i].transaction_id)
        return answers  # type: ignore[return-value]

    async def score_items(
        self, model: ScoringModel, txs: list[Txn], budget: float
    ) -> list[bytes | None]:
        """Answers in order; None where another request is scoring the same payment right now
        (the caller waits for that answer: ``wait_for_answer``).

        A transaction id counts once per call and gets its first occurrence's answer, and a
        repeat of a payment this worker answered but has not stored yet gets that answer without
        touching Redis: whatever a repeat's body says, its profiles are not counted."""
        first: dict[str, int] = {}
        for i, tx in enumerate(txs):
            first.setdefault(tx.transaction_id, i)
        if len(first) < len(txs) or (self.unflushed and any(t in self.unflushed for t in first)):
            known: dict[str, bytes | None] = {
                t: self.unflushed[t] for t in first if t in self.unflushed
            }
            rest = [i for t, i in first.items() if t not in known]
            if rest:
                scored = await self.score_items(model, [txs[i] for i in rest], budget)
                for i, body in zip(rest, scored, strict=True):
                    known[txs[i].transaction_id] = body
            DUPLICATES.inc(len(txs) - len(rest))
            return [known[tx.transaction_id] for tx in txs]
        got = await self._profiles(txs, budget)
        if isinstance(got, str):
            return list(self._degrade(model, txs, got))
        stored, profiles = got
        fresh = [i for i, p in enumerate(profiles) if stored[i] is None and p.applied]
        answers: list[bytes | None] = list(stored)
        if fresh:
            bodies = self._answer(
                model,
                [txs[i] for i in fresh],
                [(profiles[i].customer, profiles[i].terminal) for i in fresh],
                degraded=False,
            )
            queued = []
            for i, (body, entry) in zip(fresh, bodies, strict=True):
                answers[i] = body
                queued.append((txs[i].transaction_id, body, entry))
            self._store_answers(queued)
        DUPLICATES.inc(len(txs) - len(fresh))  # stored answers, and repeats still in flight
        return answers

    # --- recovery -----------------------------------------------------------------------------
    async def replay_pending(self, batch: int = 200) -> int:
        """Count degraded payments in Redis (idempotent) and store their answers; returns count."""
        done = 0
        while self.replay and self.breaker.allows():
            items = [self.replay[i] for i in range(min(batch, len(self.replay)))]
            commands: list[list[Any]] = []
            for tx, body, entry in items:
                if entry:
                    commands.append(self._log_command(entry))
                commands.append(
                    [
                        "SET",
                        answer_key(self.cfg, tx.transaction_id),
                        body,
                        "NX",
                        "EX",
                        self.cfg.dedup_ttl_s,
                    ]
                )
                commands += tx_commands(self.cfg, tx)
            try:
                async with asyncio.timeout(max(self.batch_budget_s, 1.0)):
                    replies = await self._pipeline(commands)
                for reply in replies:
                    if isinstance(reply, Exception):
                        raise reply
            except (TimeoutError, RedisError, OSError) as exc:
                self.breaker.failure(hard=not isinstance(exc, TimeoutError))
                break
            for _ in items:
                self.replay.popleft()
            done += len(items)
        if done:
            REPLAYED.inc(done)
            REPLAY_PENDING.set(len(self.replay))
            log.info("counted %d degraded payment(s) in the profiles after recovery", done)
        return done

    async def replay_loop(self, every_s: float = 0.5) -> None:
        while True:
            await asyncio.sleep(every_s)
            if self.replay:
                await self.replay_pending()
