"""Console login throttling, so that passwords cannot be guessed fast and logins cannot starve
the service: failed logins are counted per username and per client address in Redis (shared by
every worker); past a limit that name or address is locked, for a time that doubles with each
further failure, and every attempt (the right password too: no oracle) gets 429 with
Retry-After until the lock ends. The PBKDF2 verification itself runs on a small executor of its
own with a bounded queue: attempts beyond it get 503 at once instead of piling up in the
threadpool that the rest of the app (``/healthz`` too) needs."""

from __future__ import annotations

import asyncio
import hashlib
import math
import threading
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request

from fraudops.redis_clients import SyncClient
from services.alerts.metrics import LOGIN_THROTTLED, VERIFYING, VERIFYING_PEAK
from services.alerts.settings import AlertsSettings

# KEYS: failures, lock; ARGV: limit, window ms, first lock ms, longest lock ms. One more failure;
# from the limit on, the lock is set for the first lock's time doubled per failure past it.
_FAILED = """
local n = redis.call('INCR', KEYS[1])
redis.call('PEXPIRE', KEYS[1], ARGV[2])
local limit = tonumber(ARGV[1])
if n < limit then return 0 end
local ms = math.min(tonumber(ARGV[3]) * 2 ^ math.min(n - limit, 40), tonumber(ARGV[4]))
redis.call('SET', KEYS[2], '1', 'PX', math.floor(ms))
return math.floor(ms)
"""


@dataclass(frozen=True)
class Refusal:
    """A login not even tried (or failed): the status, the message shown, the headers."""

    status: int
    message: str
    headers: dict[str, str] = field(default_factory=dict)


WRONG = Refusal(401, "Unknown user or wrong password.")
BUSY = Refusal(503, "Too many logins at once; try again in a moment.", {"Retry-After": "1"})


def _digest(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()[:32]


class LoginThrottle:
    """Failure counters and locks under ``<prefix>:console:login:`` (names and addresses as
    digests). A counter lives until ``login_window_s`` pass without a failure. A subject's
    counter and lock share a hash tag (the digest): the script touching both runs in one slot
    of a Redis Cluster."""

    def __init__(self, client: SyncClient, prefix: str, settings: AlertsSettings) -> None:
        self.client, self.base = client, f"{prefix}:console:login"
        self.limits = {
            "user": settings.login_max_failures,
            "address": settings.login_max_failures_per_address,
        }
        self.window_ms = int(settings.login_window_s * 1000)
        self.lock_ms = int(settings.login_lock_s * 1000)
        self.lock_max_ms = int(settings.login_lock_max_s * 1000)
        self._failed = client.register_script(_FAILED)

    def _keys(self, kind: str, value: str) -> tuple[str, str]:
        d = _digest(value)
        return f"{self.base}:failures:{kind}:{{{d}}}", f"{self.base}:lock:{kind}:{{{d}}}"

    def _subjects(self, user: str, address: str) -> list[tuple[str, str]]:
        return [("user", user), ("address", address)]

    def locked(self, user: str, address: str) -> tuple[str, float] | None:
        """(what is locked, seconds left) of the longest lock on the name or address, or None."""
        pipe = self.client.pipeline(transaction=False)
        subjects = self._subjects(user, address)
        for kind, value in subjects:
            pipe.pttl(self._keys(kind, value)[1])
        left = [(kind, ms) for (kind, _), ms in zip(subjects, pipe.execute(), strict=True)]
        kind, ms = max(left, key=lambda x: x[1])
        return (kind, ms / 1000) if ms > 0 else None

    def failed(self, user: str, address: str) -> None:
        for kind, value in self._subjects(user, address):
            limit = self.limits[kind]
            self._failed(keys=self._keys(kind, value),
                         args=[limit, self.window_ms, self.lock_ms, self.lock_max_ms])  # fmt: skip

    def succeeded(self, user: str) -> None:
        """The name's failures are forgiven; the address's are not (an account of one's own
        must not reset the budget for guessing others)."""
        self.client.delete(*self._keys("user", user))


class BoundedVerifier:
    """At most ``concurrency`` verifications at once (their own threads) and ``queue`` more
    waiting; ``submit`` answers None at once when that is full."""

    def __init__(self, concurrency: int, queue: int) -> None:
        self._executor = ThreadPoolExecutor(concurrency, thread_name_prefix="login-verify")
        self._bound = concurrency + queue
        self._lock = threading.Lock()
        self._pending = self._running = self.peak = 0

    def _run(self, fn: Callable[[], bool]) -> bool:
        with self._lock:
            self._running += 1
            self.peak = max(self.peak, self._running)
            VERIFYING.set(self._running)
            VERIFYING_PEAK.set(self.peak)
        try:
            return fn()
        finally:
            with self._lock:
                self._running -= 1
                VERIFYING.set(self._running)

    def _done(self, _f: Future[bool]) -> None:
        with self._lock:
            self._pending -= 1

    async def submit(self, fn: Callable[[], bool]) -> bool | None:
        with self._lock:
            if self._pending >= self._bound:
                return None
            self._pending += 1
        future = self._executor.submit(self._run, fn)
        future.add_done_callback(self._done)
        return await asyncio.wrap_future(future)

    def close(self) -> None:
        self._executor.shutdown(wait=False, cancel_futures=True)


def client_address(request: Request) -> str:
    """The peer's address; behind a proxy uvicorn's --proxy-headers with --forwarded-allow-ips
    naming the proxy makes it the real client's."""
    return request.client.host if request.client else "unknown"


def _refused(kind: str, seconds: float) -> Refusal:
    LOGIN_THROTTLED.labels(kind).inc()
    wait = max(1, math.ceil(seconds))
    return Refusal(
        429,
        f"Too many failed logins for this {'username' if kind == 'user' else 'address'}; "
        f"try again in {wait} s.",
        {"Retry-After": str(wait)},
    )


async def attempt(request: Request, username: str, password: str) -> Refusal | None:
    """None when the password is right and nothing is locked, else why not. Raises
    one of ``fraudops.redis_clients.UNAVAILABLE`` when Redis is away (the caller answers 503)."""
    state = request.app.state
    throttle: LoginThrottle = state.login_throttle
    address = client_address(request)
    lock = await run_in_threadpool(throttle.locked, username, address)
    if lock is not None:
        return _refused(*lock)
    ok = await state.login_verifier.submit(lambda: state.analysts.check(username, password))
    if ok is None:
        LOGIN_THROTTLED.labels("busy").inc()
        return BUSY
    if not ok:
        await run_in_threadpool(throttle.failed, username, address)
        return WRONG
    await run_in_threadpool(throttle.succeeded, username)
    return None
