"""The hot path: one Redis round trip, the core features, the model, the decision, the answer.

A ``Scorer`` puts named parts together:

- ``ProfileReader`` (profiles.py): per payment, ``GET`` of a stored answer and the profile store's
  atomic read-and-update, all payments of a group in one round trip, behind a ``Breaker``;
- ``build_answers`` (decisions.py): features, model, decision, reasons, the scoring-log entry;
- ``AnswerStore`` (answers.py): answers stored and logged behind the answer (write-behind), a
  repeat answered from memory meanwhile, a concurrent duplicate waiting for the first answer;
- ``DegradedReplay`` (replay.py): payments answered without Redis, counted once it is back.

Fail policy when Redis is slow or down (time budget exceeded, connection refused, ...): answer
from request-only features (empty profiles = the contract's defaults) with ``degraded: true``,
never an automatic decline (review at most), and keep the payment for the replay. After a failure
Redis is skipped for ``breaker_s`` so an outage does not cost every request its full budget.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

from fraudops.profile_store.commands import StoreConfig
from fraudops.profile_store.state import EntityState
from fraudops.schema import Txn
from models.runtime import ScoringModel
from services.common import scoring_log
from services.common.logs import EveryInterval
from services.scoring.answers import AnswerStore, Busy
from services.scoring.breaker import Breaker
from services.scoring.decisions import build_answers
from services.scoring.metrics import DEGRADED, DUPLICATES
from services.scoring.profiles import AdminRedis, ProfileReader, Wire
from services.scoring.replay import DegradedReplay
from services.scoring.rules_holder import RulesHolder

__all__ = ["BATCH_CHUNK", "Busy", "Scorer"]

log = logging.getLogger("fraudops.scoring")
DEGRADED_LOG = EveryInterval(log)  # an outage degrades every payment: a line per 10 s per reason
EMPTY = EntityState()
BATCH_CHUNK = 32  # payments of a batch request scored per round trip (about 5 ms of CPU)


class Scorer:
    def __init__(
        self,
        *,
        profiles: ProfileReader,
        answers: AnswerStore,
        replay: DegradedReplay,
        budget_s: float,
        batch_budget_s: float,
    ) -> None:
        self.profiles = profiles
        self.answers = answers
        self.replay = replay
        self.budget_s = budget_s
        self.batch_budget_s = batch_budget_s
        self.rules: RulesHolder | None = None  # the fraud team's rules, applied after the model

    @classmethod
    def create(
        cls,
        *,
        admin: AdminRedis,
        wire: Wire,
        cfg: StoreConfig,
        budget_s: float,
        batch_budget_s: float,
        breaker_s: float,
        replay_capacity: int,
        duplicate_wait_s: float,
        log_maxlen: int = scoring_log.MAXLEN,
        write_every_s: float = 0.002,
        log_shards: int = 1,
    ) -> Scorer:
        breaker = Breaker(breaker_s)
        reader = ProfileReader(wire=wire, admin=admin, cfg=cfg, breaker=breaker)
        write_budget_s = max(batch_budget_s, 1.0)
        answers = AnswerStore(
            reader=reader,
            admin=admin,
            cfg=cfg,
            breaker=breaker,
            capacity=replay_capacity,
            write_budget_s=write_budget_s,
            duplicate_wait_s=duplicate_wait_s,
            read_budget_s=budget_s,
            log_maxlen=log_maxlen,
            write_every_s=write_every_s,
            log_shards=log_shards,
        )
        replay = DegradedReplay(
            reader=reader,
            answers=answers,
            cfg=cfg,
            breaker=breaker,
            capacity=replay_capacity,
            budget_s=write_budget_s,
        )
        return cls(
            profiles=reader,
            answers=answers,
            replay=replay,
            budget_s=budget_s,
            batch_budget_s=batch_budget_s,
        )

    async def score(
        self, model: ScoringModel, txs: list[Txn], request_ids: Sequence[str]
    ) -> list[bytes]:
        """JSON answers, in order, for payments of one request.

        A large batch goes in chunks of ``BATCH_CHUNK``, one round trip each: its features and
        model run on the event loop, and 1,000 payments at once held every other request of the
        worker for about 200 ms (single payments then missed their Redis budget)."""
        budget = self.budget_s if len(txs) == 1 else self.batch_budget_s
        answers: list[bytes | None] = []
        for start in range(0, len(txs), BATCH_CHUNK):
            # a repeat in a later chunk finds the first one's answer in ``unflushed``
            chunk = slice(start, start + BATCH_CHUNK)
            answers += await self.score_items(model, txs[chunk], request_ids[chunk], budget)
        done: list[bytes] = []
        for tx, body in zip(txs, answers, strict=True):
            done.append(body or await self.answers.wait_for(tx.transaction_id))
        return done

    async def score_items(
        self, model: ScoringModel, txs: list[Txn], request_ids: Sequence[str], budget: float
    ) -> list[bytes | None]:
        """Answers in order; None where another request is scoring the same payment right now
        (the caller waits for that answer: ``AnswerStore.wait_for``).

        A transaction id counts once per call and gets its first occurrence's answer, and a
        repeat of a payment this worker answered but has not stored yet gets that answer without
        touching Redis: whatever a repeat's body says, its profiles are not counted."""
        unflushed = self.answers.unflushed
        first: dict[str, int] = {}
        for i, tx in enumerate(txs):
            first.setdefault(tx.transaction_id, i)
        if len(first) < len(txs) or (unflushed and any(t in unflushed for t in first)):
            known: dict[str, bytes | None] = {t: unflushed[t] for t in first if t in unflushed}
            rest = [i for t, i in first.items() if t not in known]
            if rest:
                scored = await self.score_items(
                    model, [txs[i] for i in rest], [request_ids[i] for i in rest], budget
                )
                for i, body in zip(rest, scored, strict=True):
                    known[txs[i].transaction_id] = body
            DUPLICATES.inc(len(txs) - len(rest))
            return [known[tx.transaction_id] for tx in txs]
        holder = self.rules
        lists = holder if holder is not None and holder.uses_lists else None
        got = await self.profiles.read(txs, budget, [lists.version_command()] if lists else ())
        if isinstance(got, str):
            return list(self._degrade(model, txs, request_ids, got))
        stored, profiles, extra = got
        if lists is not None:
            await lists.lists_moved(extra[0])
        fresh = [i for i, p in enumerate(profiles) if stored[i] is None and p.applied]
        answers: list[bytes | None] = list(stored)
        if fresh:
            bodies = build_answers(
                model,
                [txs[i] for i in fresh],
                [(profiles[i].customer, profiles[i].terminal) for i in fresh],
                [request_ids[i] for i in fresh],
                degraded=False,
                with_log=self.answers.logging_enabled,
                rules=holder.current if holder else None,
            )
            queued = []
            for i, (body, entry) in zip(fresh, bodies, strict=True):
                answers[i] = body
                shard = self.answers.log_shard(txs[i].customer_id)
                queued.append((txs[i].transaction_id, body, entry, shard))
            self.answers.queue(queued)
        DUPLICATES.inc(len(txs) - len(fresh))  # stored answers, and repeats still in flight
        return answers

    def _degrade(
        self, model: ScoringModel, txs: list[Txn], request_ids: Sequence[str], reason: str
    ) -> list[bytes]:
        DEGRADED.labels(reason).inc(len(txs))
        DEGRADED_LOG.warning(
            reason,
            "degraded answer (%s) for %d payment(s), first %s",
            reason,
            len(txs),
            txs[0].transaction_id,
            count=len(txs),
        )
        answers = build_answers(
            model,
            txs,
            [(EMPTY, EMPTY)] * len(txs),
            request_ids,
            degraded=True,
            with_log=self.answers.logging_enabled,
            rules=self.rules.current if self.rules else None,
        )
        self.replay.keep([(tx, *answer) for tx, answer in zip(txs, answers, strict=True)])
        return [body for body, _ in answers]
