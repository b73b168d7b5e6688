"""One logging setup for every service: JSON lines, each with the request id it belongs to.

The request id comes from the caller's ``X-Request-ID`` (when it is a short token: anything else
could forge log lines) or is generated; it is echoed back on the answer, set on every log line
written while the request is handled, and carried into the scoring log. Messages carry ids only,
never personal data (see docs/compliance.md).
"""

from __future__ import annotations

import contextvars
import json
import logging
import re
import secrets
import sys
import threading
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

request_id: contextvars.ContextVar[str] = contextvars.ContextVar("request_id", default="-")

HEADER = b"x-request-id"
_VALID = re.compile(rb"[A-Za-z0-9._:\-]{1,128}")
Scope = dict[str, Any]
Message = dict[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]


log = logging.getLogger("fraudops.http")
INTERNAL_ERROR = b'{"detail":"Internal Server Error"}'


def new_request_id() -> str:
    return secrets.token_hex(16)


class JsonLines(logging.Formatter):
    """``{"ts", "level", "logger", "message", "request_id", ...}``, one object a line."""

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
            "request_id": getattr(record, "request_id", None) or request_id.get(),
            "pid": record.process,
        }
        if record.exc_info:
            line["error"] = self.formatException(record.exc_info)
        return json.dumps(line, ensure_ascii=False, default=str)


def configure_logging(level: str | int = "info") -> None:
    """Every logger (ours, uvicorn's, the libraries') to stderr as JSON lines. Idempotent."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonLines())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper() if isinstance(level, str) else level)
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access"):
        logger = logging.getLogger(name)
        logger.handlers[:] = []  # theirs would print plain text beside ours
        logger.propagate = True
    logging.getLogger("httpx").setLevel(logging.WARNING)  # it logs whole URLs at INFO


class EveryInterval:
    """A warning that can come with every request (Redis away: every payment degraded) logged at
    most once per ``every_s`` per kind; what came between is counted and given with the next line
    of that kind, so an outage writes a line every few seconds, not thousands a second (the
    metrics still count each event)."""

    def __init__(
        self, logger: logging.Logger, every_s: float = 10.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:  # fmt: skip
        self.logger, self.every_s, self.clock = logger, every_s, clock
        self._next: dict[str, float] = {}
        self._held: dict[str, int] = {}
        self._lock = threading.Lock()

    def warning(self, kind: str, msg: str, *args: object, count: int = 1) -> bool:
        """Log ``msg % args`` unless a line of ``kind`` went out less than ``every_s`` ago; then
        only ``count`` (what the message counts: payments, attempts) is kept for the next line.
        Returns whether it was logged."""
        now = self.clock()
        with self._lock:
            if now < self._next.get(kind, now):
                self._held[kind] = self._held.get(kind, 0) + count
                return False
            held = self._held.pop(kind, 0)
            self._next[kind] = now + self.every_s
        if held:
            msg, args = msg + " (and %d more in the last %g s, not logged one by one)", (
                *args, held, self.every_s,
            )  # fmt: skip
        self.logger.warning(msg, *args)
        return True


class RequestId:
    """ASGI middleware: the request's id in the context (``request_id``) and on the answer."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self.api = getattr(app, "api", app)  # the FastAPI app inside, for tests and tools

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        rid = None
        for name, value in scope["headers"]:
            if name == HEADER:
                rid = value.decode("latin-1") if _VALID.fullmatch(value) else None
                break
        rid = rid or new_request_id()
        token = request_id.set(rid)
        echoed = (HEADER, rid.encode())
        started = False

        async def send_with_id(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
                message["headers"] = [*message.get("headers", ()), echoed]
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        except Exception:
            # logged here, with the request's id (the server would log it without), and the 500
            # carries the id too; a response already under way can only be cut short
            log.exception("unhandled error in %s %s", scope.get("method"), scope.get("path"))
            if not started:
                headers = [(b"content-type", b"application/json"),
                           (b"content-length", b"%d" % len(INTERNAL_ERROR))]  # fmt: skip
                await send_with_id({"type": "http.response.start", "status": 500,
                                    "headers": headers})  # fmt: skip
                await send({"type": "http.response.body", "body": INTERNAL_ERROR})
        finally:
            request_id.reset(token)
