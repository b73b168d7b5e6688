"""uvicorn's httptools protocol with the two limits a server facing clients needs.

httptools has no limit on the request line and headers, and uvicorn no timeout for a request
that never finishes: four connections each sending 50 MB of one unfinished header grew a worker
by 180 MB, and idle or half-sent connections stayed open for good (20,000 of them made the server
refuse new ones). Here:

- request line + headers over ``FRAUDOPS_HTTP_MAX_HEAD_BYTES`` (32 KiB): ``431``, closed. A
  finished head is measured exactly; an unfinished one by the bytes read while it stays
  unfinished (so at most one read, up to 256 KiB, more);
- a request not complete ``FRAUDOPS_HTTP_REQUEST_TIMEOUT_S`` (10 s) after its first read, or a
  new connection without a complete request that long: ``408``, closed.

A request that arrives whole in one read (nearly all of them) arms no timer. The status line is
written only where it cannot be mistaken for the answer to an earlier request on the connection;
otherwise the connection is just closed.
"""

from __future__ import annotations

import asyncio
import functools
from typing import Any

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol


class HttpSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="FRAUDOPS_HTTP_", extra="ignore")

    max_head_bytes: int = Field(default=32 * 1024, gt=0)
    request_timeout_s: float = Field(default=10.0, gt=0)


@functools.cache
def limits() -> HttpSettings:
    """Read once per worker, at its first connection (not when the module is imported)."""
    return HttpSettings()


PATH = "services.common.http_protocol:GuardedHttpToolsProtocol"  # for uvicorn's ``http``


class _HeadTooLarge(Exception):
    """Raised from a parser callback to stop parsing (the 431 is already written)."""


class GuardedHttpToolsProtocol(HttpToolsProtocol):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._head_bytes = 0  # the current request's line and finished headers, exactly
        self._unfinished_bytes = 0  # bytes read while the current head stayed unfinished
        self._in_head = False  # a request has begun and its headers are not complete
        self._began = False  # a request began during the current read
        self._partial = False  # a request has begun and is not complete
        self._refused = False
        self._deadline: asyncio.TimerHandle | None = None
        self._limits = limits()

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._arm()  # a connection that never sends a request is closed too

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        self._began = False
        super().data_received(data)
        if self._refused:
            return
        if self._in_head and not self._began:  # the read that began it is not counted
            self._unfinished_bytes += len(data)
            if self._unfinished_bytes > self._limits.max_head_bytes:
                self._refuse(431, b"Request Header Fields Too Large")
                return
        if self._partial:
            if self._deadline is None:
                self._arm()
        elif self._deadline is not None:
            self._disarm()

    def send_400_response(self, msg: str) -> None:
        if not self._refused:  # uvicorn answers a callback's exception with a 400
            super().send_400_response(msg)

    # parser callbacks
    def on_message_begin(self) -> None:
        self._partial = self._in_head = self._began = True
        self._head_bytes = self._unfinished_bytes = 0
        super().on_message_begin()

    def on_url(self, url: bytes) -> None:
        self._grow(len(url))
        super().on_url(url)

    def on_header(self, name: bytes, value: bytes) -> None:
        self._grow(len(name) + len(value) + 4)
        super().on_header(name, value)

    def on_headers_complete(self) -> None:
        self._in_head = False
        super().on_headers_complete()

    def on_message_complete(self) -> None:
        self._partial = False
        super().on_message_complete()

    # the limits
    def _grow(self, n: int) -> None:
        self._head_bytes += n
        if self._head_bytes > self._limits.max_head_bytes:
            self._refuse(431, b"Request Header Fields Too Large")
            raise _HeadTooLarge

    def _arm(self) -> None:
        self._deadline = self.loop.call_later(self._limits.request_timeout_s, self._too_slow)

    def _disarm(self) -> None:
        if self._deadline is not None:
            self._deadline.cancel()
            self._deadline = None

    def _too_slow(self) -> None:
        self._deadline = None
        if not self.transport.is_closing():
            self._refuse(408, b"Request Timeout")

    def _refuse(self, status: int, reason: bytes) -> None:
        """Answer ``status`` and close the connection (an application waiting for the body
        sees a disconnect)."""
        self._refused = True
        self._disarm()
        cycle = self.cycle
        if self._partial and not self._in_head:  # the cycle is this request's: body unfinished
            answer = cycle is None or not cycle.response_started
        else:  # a head unfinished (or none yet): the cycle, if any, is an earlier request's
            answer = not self.pipeline and (cycle is None or cycle.response_complete)
        if answer:
            body = reason + b"\n"
            self.transport.write(
                b"HTTP/1.1 %d %s\r\ncontent-type: text/plain; charset=utf-8\r\n"
                b"content-length: %d\r\nconnection: close\r\n\r\n%s"
                % (status, reason, len(body), body)
            )
        self.transport.close()
