"""A graceful drain on SIGTERM, for every service behind a load balancer.

uvicorn alone, on SIGTERM, closes its listener at once (the balancer still sends it requests
until its health check notices: refused connections), finishes the requests in flight, runs the
lifespan's shutdown and then raises SIGTERM again on itself: the process ends killed by the
signal (exit -15), never 0. Here, on the first SIGTERM or SIGINT:

1. ``/readyz`` answers 503 at once (each service's handler asks ``draining()``) and every
   answer says ``Connection: close``, so clients and the balancer move to the other replicas;
2. the listener keeps accepting for ``FRAUDOPS_DRAIN_S`` (5 s: two failed checks of a balancer
   checking every 2 s, with a margin), serving whatever still comes;
3. then uvicorn's own shutdown: the listener closes, requests in flight finish (at most
   ``FRAUDOPS_SHUTDOWN_GRACE_S``), the lifespan flushes the background writers;
4. exit 0. SIGINT during the drain skips its wait (twice: uvicorn's force exit); SIGTERM again
   (a supervisor's and a process group's) changes nothing.
"""

from __future__ import annotations

import contextlib
import logging
import math
import signal
import socket
import time
from collections.abc import Generator
from types import FrameType
from typing import Any

import uvicorn
from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict
from uvicorn.config import STARTUP_FAILURE

log = logging.getLogger("fraudops.serve")
DRAINING_DETAIL = "shutting down: draining"


class DrainSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="FRAUDOPS_", extra="ignore")

    # how long the listener keeps accepting after SIGTERM, /readyz answering 503: longer than
    # the balancer needs to mark the replica down (its check interval x failures to fall)
    drain_s: float = Field(default=5.0, ge=0)
    # then how long requests in flight may take before they are cancelled
    shutdown_grace_s: float = Field(default=30.0, gt=0)


class _State:
    """One server per process: the signal handler starts the drain, the app asks about it."""

    def __init__(self) -> None:
        self.since: float | None = None

    def begin(self) -> None:
        if self.since is None:
            self.since = time.monotonic()


STATE = _State()


def draining() -> bool:
    """True from the stop signal on: ``/readyz`` answers 503."""
    return STATE.since is not None


class ClosingWhileDraining:
    """ASGI wrapper: while draining, every answer carries ``Connection: close`` (uvicorn then
    closes the connection after it), so keep-alive clients reconnect through the balancer to a
    replica that stays. Outside a drain it costs one call and one test per request."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if STATE.since is None or scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def closing(message: Any) -> None:
            if message["type"] == "http.response.start":
                headers = [h for h in message.get("headers", []) if h[0].lower() != b"connection"]
                message = {**message, "headers": [*headers, (b"connection", b"close")]}
            await send(message)

        await self.app(scope, receive, closing)


class DrainingServer(uvicorn.Server):
    """uvicorn's server with the drain above; ``run`` returns normally after a SIGTERM."""

    def __init__(self, config: uvicorn.Config, drain_s: float) -> None:
        super().__init__(config)
        self.drain_s = drain_s
        self._exit_at: float | None = None

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        if self._exit_at is None and not self.should_exit:
            STATE.begin()
            self._exit_at = time.monotonic() + self.drain_s
            self._captured_signals.append(sig)
            log.info("signal %d: draining for %.1f s, then stopping", sig, self.drain_s)
            return
        if sig == signal.SIGTERM:  # the supervisor's and a process group's: one drain
            return
        super().handle_exit(sig, frame)  # SIGINT: stop now (twice: force)

    async def on_tick(self, counter: int) -> bool:
        if self._exit_at is not None and time.monotonic() >= self._exit_at:
            self.should_exit = True
        return await super().on_tick(counter)

    @contextlib.contextmanager
    def capture_signals(self) -> Generator[None, None, None]:
        with super().capture_signals():
            try:
                yield
            finally:
                # uvicorn raises the signal again once stopped: for SIGTERM that is death by
                # the signal (exit -15) after a clean stop; a clean stop exits 0 here
                self._captured_signals = [s for s in self._captured_signals if s != signal.SIGTERM]


def serve(
    app: str, host: str, port: int, options: dict[str, Any],
    sockets: list[socket.socket] | None = None,
) -> int:  # fmt: skip
    """Run ``app`` (a factory's import path) until a signal has drained it: 0, or uvicorn's
    startup failure (3) when it never started."""
    settings = DrainSettings()
    config = uvicorn.Config(
        app, factory=True, host=host, port=port,
        timeout_graceful_shutdown=math.ceil(settings.shutdown_grace_s), **options,
    )  # fmt: skip
    config.load()  # the app, wrapped once: every service gets the same drain
    config.loaded_app = ClosingWhileDraining(config.loaded_app)
    server = DrainingServer(config, settings.drain_s)
    server.run(sockets=sockets)
    return 0 if server.started else STARTUP_FAILURE
