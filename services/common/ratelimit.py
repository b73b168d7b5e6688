"""Rate limits held in Redis, so that they hold across workers and replicas.

One Lua script runs GCRA (the generic cell rate algorithm) atomically: a limit of ``n`` per
``window_s`` lets a subject spend ``n`` at once, then one more every ``window_s / n``. A subject's
key holds one number, its theoretical arrival time (TAT) in microseconds of Redis's own clock (so
the workers' clocks never matter), and expires as soon as the subject is back to a full allowance.
Unlike a fixed window it never lets ``2n`` through around a window boundary. The script grants
up to ``want`` at once (fewer near the limit): a worker may take a lease of several and spend them
without a round trip (``RateLimiter.enforce_async``, see docs/scoring.md for the trade-off).

Keys: ``{prefix}:q:{<service>:<kind>:<name>}``; the hash tag gives each subject one Cluster slot,
as the profile store's keys do (fraudops.profile_store.layout).

Redis slow or down: the limit is not enforced (fail open) and the request goes on; each such check
is counted in ``fraudops_rate_limit_unavailable_total{service}``. A limiter outage never becomes
a 5xx.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import math
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any

from prometheus_client import Counter
from pydantic import BaseModel
from redis.exceptions import NoScriptError

from fraudops import redis_clients

log = logging.getLogger("fraudops.ratelimit")

SCRIPT = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local interval, burst, want = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
local tat = tonumber(redis.call('GET', KEYS[1]) or 0)
if tat < now then tat = now end
local grant = math.min(want, math.floor((now + burst - tat) / interval))
if grant < 1 then return {0, tat + interval - burst - now} end
local new = tat + grant * interval
redis.call('SET', KEYS[1], string.format('%d', new), 'PX', math.ceil((new - now) / 1000))
return {grant, 0}
"""
SCRIPT_SHA = hashlib.sha1(SCRIPT.encode()).hexdigest()

LIMITED = Counter(
    "fraudops_rate_limited_total",
    "Requests refused (429) by a rate limit; key: the API key's name, or 'user' for user tokens",
    ["service", "kind", "key"],
)
UNAVAILABLE = Counter(
    "fraudops_rate_limit_unavailable_total",
    "Rate-limit checks skipped because Redis was slow or down (the request went on: fail open)",
    ["service"],
)

Command = list[Any]
Send = Callable[[list[Command]], Awaitable[list[Any]]]  # one round trip: replies, errors as values
Load = Callable[[str], Awaitable[Any]]  # SCRIPT LOAD


class LimitedBody(BaseModel):
    """The 429 answer's body (documented in each service's OpenAPI)."""

    detail: str
    rate_limit: dict[str, float]
    retry_after_s: int


RESPONSE_429 = {"model": LimitedBody, "description": "past the caller's rate limit (Retry-After)"}


@dataclass(frozen=True)
class Rate:
    """``limit`` per ``window_s``; integer microseconds so the script's sums are exact.
    ``lease``: how many a worker takes from Redis at once (1: every request asks Redis)."""

    limit: int
    window_s: float
    lease: int = 1

    def args(self, want: int) -> tuple[int, int, int]:
        interval = max(1, int(self.window_s * 1e6) // self.limit)
        return interval, interval * self.limit, want


@dataclass(frozen=True)
class Limits:
    """A default rate for every subject of one kind, and per-name overrides (0: none);
    ``lease_share``: the share of a limit a worker may lease at once (0: no leases)."""

    default: int
    window_s: float
    overrides: Mapping[str, int]
    lease_share: float = 0.0

    @classmethod
    def parse(
        cls, default: int, window_s: float, overrides: str = "{}", lease_share: float = 0.0
    ) -> Limits:
        """Overrides are a JSON object ``{"<key name>": <limit>}``; a bad one fails start-up."""
        table = json.loads(overrides) if overrides.strip() else {}
        if not isinstance(table, dict) or not all(
            isinstance(v, int) and not isinstance(v, bool) and v >= 0 for v in table.values()
        ):
            raise ValueError('rate-limit overrides: a JSON object {"<key name>": <int >= 0>}')
        return cls(default, window_s, table, lease_share)

    def rate(self, name: str) -> Rate | None:
        limit = self.overrides.get(name, self.default)
        lease = max(1, int(limit * self.lease_share))
        return Rate(limit, self.window_s, lease) if limit > 0 else None

    @property
    def enabled(self) -> bool:
        return self.default > 0 or any(v > 0 for v in self.overrides.values())


class Limited(Exception):
    """A request over its limit: answer 429 with ``headers`` and ``body``."""

    def __init__(self, what: str, rate: Rate, retry_after_s: int) -> None:
        self.retry_after_s = retry_after_s
        self.detail = (
            f"rate limit exceeded: {what} may make {rate.limit} requests per "
            f"{rate.window_s:g} s; retry after {retry_after_s} s"
        )
        self.limit = {"limit": rate.limit, "window_s": rate.window_s}
        super().__init__(self.detail)

    @property
    def headers(self) -> dict[str, str]:
        return {"Retry-After": str(self.retry_after_s)}

    @property
    def body(self) -> dict[str, Any]:
        return {"detail": self.detail, "rate_limit": self.limit,
                "retry_after_s": self.retry_after_s}  # fmt: skip


@dataclass(frozen=True)
class Check:
    """One subject's check: its key and rate, and how it is named to the caller and in the
    metric (``label``: a configured key name or 'user', never a customer id)."""

    key: str
    rate: Rate
    what: str
    kind: str
    label: str

    def command(self, want: int = 1) -> Command:
        return ["EVALSHA", SCRIPT_SHA, 1, self.key, *self.rate.args(want)]


class RateLimiter:
    """The limits of one service, by subject kind (``key``, ``user``)."""

    def __init__(
        self, service: str, prefix: str, limits: Mapping[str, Limits], cooldown_s: float = 1.0
    ) -> None:
        self.service, self.prefix = service, prefix
        # the blocking path: after a failure Redis is skipped this long, so a hung Redis costs
        # one request its socket timeout, not every request (the asyncio path has its caller's)
        self.cooldown_s = cooldown_s
        self._skip_until = 0.0
        self.limits = {kind: lim for kind, lim in limits.items() if lim.enabled}
        self.leased: dict[str, int] = {}  # by Redis key: what this worker took and has not spent
        self._asking: dict[str, asyncio.Lock] = {}  # one lease request at a time per subject

    def __bool__(self) -> bool:
        return bool(self.limits)

    def check(self, kind: str, name: str, what: str, label: str | None = None) -> Check | None:
        """The check for subject ``name`` of ``kind``; None when no limit applies to it."""
        limits = self.limits.get(kind)
        rate = limits.rate(name) if limits else None
        if rate is None:
            return None
        key = f"{self.prefix}:q:{{{self.service}:{kind}:{name}}}"
        return Check(key, rate, what, kind, name if label is None else label)

    def judge(self, check: Check, reply: Any) -> int:
        """How many the script granted (>= 1); else raise Limited, counted."""
        if isinstance(reply, Exception):
            raise reply
        granted, wait_us = int(reply[0]), int(reply[1])
        if granted:
            return granted
        LIMITED.labels(self.service, check.kind, check.label).inc()
        raise Limited(check.what, check.rate, max(1, math.ceil(wait_us / 1e6)))

    def unavailable(self, exc: BaseException | None) -> None:
        """A check skipped (fail open): counted; logged when it failed (not when skipped)."""
        UNAVAILABLE.labels(self.service).inc()
        if exc is not None:
            log.warning("rate limit not enforced, redis unavailable: %s", type(exc).__name__)

    def enforce(self, client: redis_clients.SyncClient, check: Check | None) -> None:
        """The blocking client's check (raises Limited; fails open)."""
        if check is None:
            return
        if time.monotonic() < self._skip_until:
            self.unavailable(None)
            return
        try:
            try:
                reply = client.execute_command(*check.command())  # type: ignore[no-untyped-call]
            except NoScriptError:
                client.script_load(SCRIPT)
                reply = client.execute_command(*check.command())  # type: ignore[no-untyped-call]
            self.judge(check, reply)  # Limited passes; an error reply fails open below
        except redis_clients.UNAVAILABLE as exc:  # a cluster's RedisClusterException too
            self._skip_until = time.monotonic() + self.cooldown_s
            self.unavailable(exc)

    def spend_leased(self, check: Check) -> bool:
        """One from this worker's lease for the subject, if it holds any (no round trip)."""
        held = self.leased.get(check.key, 0)
        if held:
            self.leased[check.key] = held - 1
        return held > 0

    async def enforce_async(self, send: Send, load: Load, check: Check) -> None:
        """The asyncio check: one spent from this worker's lease, else one round trip over
        ``send`` asking for a lease of ``rate.lease`` (loading the script if Redis does not know
        it). Requests that find the lease empty together wait for one request for a new one
        (else each would take a lease). The caller bounds the time and maps failures to
        ``unavailable``."""
        if self.spend_leased(check):
            return
        if check.rate.lease == 1:
            await self._ask(send, load, check)
            return
        async with self._asking.setdefault(check.key, asyncio.Lock()):
            if not self.spend_leased(check):  # another request's lease may have come meanwhile
                await self._ask(send, load, check)

    async def _ask(self, send: Send, load: Load, check: Check) -> None:
        want = check.rate.lease
        (reply,) = await send([check.command(want)])
        if isinstance(reply, NoScriptError):
            await load(SCRIPT)
            (reply,) = await send([check.command(want)])
        granted = self.judge(check, reply)
        if granted > 1:
            self.leased[check.key] = self.leased.get(check.key, 0) + granted - 1
