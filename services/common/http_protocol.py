"""uvicorn's httptools protocol with the two limits a server facing clients needs.

httptools has no limit on the request line and headers, and uvicorn no timeout for a request
that never finishes: four connections each sending 50 MB of one unfinished header grew a worker
by 180 MB, and idle or half-sent connections stayed open for good (20,000 of them made the server
refuse new ones). Here:

- request line + headers over ``FRAUDOPS_HTTP_MAX_HEAD_BYTES`` (32 KiB): ``431``, closed;
- a request not complete (headers and body) ``FRAUDOPS_HTTP_REQUEST_TIMEOUT_S`` (10 s) after its
  first byte, or a new connection that sends nothing for that long: ``408``, closed.

A request that arrives whole in one read (nearly all of them) arms no timer.
"""

from __future__ import annotations

import asyncio
import os
from typing import Any

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

MAX_HEAD_BYTES = int(os.environ.get("FRAUDOPS_HTTP_MAX_HEAD_BYTES", 32 * 1024))
REQUEST_TIMEOUT_S = float(os.environ.get("FRAUDOPS_HTTP_REQUEST_TIMEOUT_S", 10.0))
PATH = "services.common.http_protocol:GuardedHttpToolsProtocol"  # for uvicorn's ``http``


class GuardedHttpToolsProtocol(HttpToolsProtocol):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._head_bytes = 0  # bytes of the current request line and headers, so far
        self._in_head = True  # between a message's start (or the connection's) and its headers
        self._partial = False  # a request has begun and is not complete yet
        self._deadline: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._arm()  # a connection that never sends a request is closed too

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        if self._in_head:
            self._head_bytes += len(data)
            if self._head_bytes > MAX_HEAD_BYTES:
                self._refuse(431, b"Request Header Fields Too Large")
                return
        super().data_received(data)
        if self._partial:
            if self._deadline is None:
                self._arm()
        elif self._deadline is not None:
            self._disarm()

    # parser callbacks
    def on_message_begin(self) -> None:
        self._partial = True
        super().on_message_begin()

    def on_headers_complete(self) -> None:
        self._in_head = False
        self._head_bytes = 0
        super().on_headers_complete()

    def on_message_complete(self) -> None:
        self._partial = False
        self._in_head = True
        super().on_message_complete()

    # the limits
    def _arm(self) -> None:
        self._deadline = self.loop.call_later(REQUEST_TIMEOUT_S, self._too_slow)

    def _disarm(self) -> None:
        if self._deadline is not None:
            self._deadline.cancel()
            self._deadline = None

    def _too_slow(self) -> None:
        self._deadline = None
        if not self.transport.is_closing():
            self._refuse(408, b"Request Timeout")

    def _refuse(self, status: int, reason: bytes) -> None:
        """Answer ``status`` unless a response has begun, then close the connection (the
        application, if it waits for the body, sees a disconnect)."""
        self._disarm()
        cycle = self.cycle
        if cycle is None or not cycle.response_started:
            body = reason + b"\n"
            self.transport.write(
                b"HTTP/1.1 %d %s\r\ncontent-type: text/plain; charset=utf-8\r\n"
                b"content-length: %d\r\nconnection: close\r\n\r\n%s"
                % (status, reason, len(body), body)
            )
        self.transport.close()
