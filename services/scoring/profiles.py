"""The hot path's one Redis round trip: stored answers and the profiles just before a payment."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Sequence
from typing import Any

import redis.asyncio as aredis
from redis.exceptions import ConnectionError, RedisClusterException, RedisError

from fraudops.profile_store import layout
from fraudops.profile_store.commands import (
    SCRIPT,
    Profiles,
    StoreConfig,
    needs_script,
    parse_tx_replies,
    tx_commands,
)
from fraudops.profile_store.routing import units
from fraudops.schema import Txn
from services.common.logs import EveryInterval
from services.common.ratelimit import Check, RateLimiter
from services.scoring.breaker import Breaker
from services.scoring.cluster_wire import ClusterWire
from services.scoring.metrics import STAGE_SECONDS
from services.scoring.wire import RedisWire

log = logging.getLogger("fraudops.scoring")
UNAVAILABLE_LOG = EveryInterval(log)  # one line per 10 s while Redis is away, with a count
_PROFILES = STAGE_SECONDS.labels("profiles")

Command = list[Any]


def failed(reply: Any) -> bool:
    """An error reply, or an ``EXEC`` answer holding one (a queued command that failed)."""
    if isinstance(reply, Exception):
        return True
    return isinstance(reply, list) and any(isinstance(item, Exception) for item in reply)


AdminRedis = aredis.Redis | aredis.RedisCluster
Wire = RedisWire | ClusterWire


class ProfileReader:
    """Per payment, one pipeline carries ``GET`` of a stored answer and the profile store's
    read-and-update commands (``tx_commands``): all payments of a group in one round trip."""

    def __init__(
        self, *, wire: Wire, admin: AdminRedis, cfg: StoreConfig, breaker: Breaker
    ) -> None:
        self.wire = wire  # every hot-path round trip
        self.admin = admin  # script loading
        self.cfg = cfg
        self.breaker = breaker

    async def send(self, commands: list[Command], partial: bool = False) -> list[Any]:
        """One round trip; error replies come back as exception objects in the list (on a
        cluster with ``partial``, so do the commands of a node that could not be reached)."""
        return await self.wire.call(commands, partial)

    async def send_loading_script(
        self, commands: list[Command], partial: bool = False
    ) -> list[Any]:
        """``send``, loading the update script when Redis does not know it (first use, SCRIPT
        FLUSH, a restart, a promoted replica) and sending again only the units it failed: on a
        cluster the other masters ran theirs, and running an update twice would find its own
        marker (the payment "already counted", answered 409) or write a log entry twice."""
        replies = await self.send(commands, partial)
        if not needs_script(replies):
            return replies
        try:
            await self.admin.script_load(SCRIPT)
        except RedisClusterException as exc:  # not a RedisError: no node it knows answers
            raise ConnectionError(f"script load: {exc}") from exc
        again = [u for u in units(commands) if needs_script(replies[u[0] : u[1]])]
        resent = await self.send([c for u in again for c in commands[u[0] : u[1]]], partial)
        at = 0
        for start, end, _slot in again:
            replies[start:end] = resent[at : at + end - start]
            at += end - start
        return replies

    async def write(self, commands: list[Command], budget_s: float) -> None:
        """One round trip that must succeed whole: the first error reply is raised (as are
        TimeoutError past ``budget_s``, and connection errors)."""
        async with asyncio.timeout(budget_s):
            replies = await self.send_loading_script(commands)
        for reply in replies:
            if isinstance(reply, Exception):
                raise reply

    async def write_each(self, commands: list[Command], budget_s: float) -> list[Any]:
        """One round trip whose commands may fail one by one (a cluster node away): the replies,
        errors as exception objects, for the caller to retry only what failed. TimeoutError past
        ``budget_s`` and a failure of the whole round trip are raised."""
        async with asyncio.timeout(budget_s):
            return await self.send_loading_script(commands, partial=True)

    async def rate_limit(self, limiter: RateLimiter, check: Check, budget_s: float) -> None:
        """Raise ``Limited`` past the limit. Within the payment's Redis budget and behind the
        same breaker: Redis slow or down, the limit is not enforced (counted), never a 5xx."""
        if limiter.spend_leased(check):
            return  # the common case under load: no round trip
        if not self.breaker.allows():
            limiter.unavailable(None)
            return
        try:
            async with asyncio.timeout(budget_s):
                await limiter.enforce_async(self.send, self.admin.script_load, check)
        except TimeoutError as exc:
            self.breaker.failure(hard=False)
            limiter.unavailable(exc)
        except (RedisError, OSError) as exc:
            self.breaker.failure(hard=True)
            limiter.unavailable(exc)

    async def read(
        self, txs: list[Txn], budget_s: float, extra: Sequence[Command] = ()
    ) -> tuple[list[bytes | None], list[Profiles], list[Any]] | str:
        """Per payment: (stored answer, Profiles), and the replies of ``extra`` commands sent in
        the same round trip (the rules' lists version); or the reason Redis could not be used."""
        if not self.breaker.allows():
            return "breaker_open"
        commands: list[Command] = []
        spans: list[tuple[int, int]] = []  # each payment's replies: GET, then its tx_commands
        for tx in txs:
            start = len(commands)
            commands.append(["GET", layout.answer_key(self.cfg.prefix, tx.transaction_id)])
            commands += tx_commands(self.cfg, tx)
            spans.append((start, len(commands)))  # one reply per command
        commands += extra
        started = time.perf_counter()
        try:
            async with asyncio.timeout(budget_s):
                replies = await self.send_loading_script(commands)
        except TimeoutError:
            self.breaker.failure(hard=False)
            return "timeout"
        except (RedisError, OSError) as exc:
            self.breaker.failure(hard=True)
            UNAVAILABLE_LOG.warning("unavailable", "redis unavailable: %s", type(exc).__name__)
            return "unavailable"
        self.breaker.success()
        _PROFILES.observe(time.perf_counter() - started)
        stored: list[bytes | None] = []
        profiles: list[Profiles] = []
        try:
            for start, end in spans:
                answer = replies[start]
                stored.append(answer if isinstance(answer, bytes) else None)
                profiles.append(parse_tx_replies(replies[start + 1 : end]))
        except (RedisError, ValueError, TypeError) as exc:
            log.error("unexpected redis reply: %s", exc)
            return "bad_reply"
        return stored, profiles, list(replies[len(replies) - len(extra) :]) if extra else []
