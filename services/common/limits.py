"""A request body size limit as plain ASGI middleware (cheap on the hot path)."""

from __future__ import annotations

from typing import Any

from fastapi import HTTPException

from services.common.asgi import send_error

Scope = dict[str, Any]


class BodyLimit:
    """413 for a body over ``max_bytes``: by Content-Length up front, else while streaming."""

    def __init__(self, app: Any, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes
        self.api = getattr(app, "api", app)  # the FastAPI app inside, for tests and tools

    async def _reject(self, send: Any) -> None:
        exc = self._too_large()
        await send_error(send, exc.status_code, exc.detail)

    def _too_large(self) -> _TooLarge:
        return _TooLarge(413, f"request body over {self.max_bytes} bytes")

    async def __call__(self, scope: Scope, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        for name, value in scope.get("headers", ()):
            if name == b"content-length":
                try:
                    too_big = int(value) > self.max_bytes
                except ValueError:
                    too_big = False
                if too_big:
                    await self._reject(send)
                    return
        seen = 0
        started = False

        async def limited_receive() -> Any:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.max_bytes:
                    raise self._too_large()
            return message

        async def tracking_send(message: Any) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, limited_receive, tracking_send)
        except _TooLarge:
            if not started:
                await self._reject(send)


class _TooLarge(HTTPException):
    """An HTTPException, so that FastAPI, reading a body for a route, answers it as the 413 it
    is (any other exception while reading a body becomes its 400 "error parsing the body")."""
