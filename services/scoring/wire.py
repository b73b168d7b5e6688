"""One pipelined Redis connection for the hot path: requests are written as they come and their
replies are matched in order (RESP answers in request order), parsed by hiredis in one place.

redis-py's asyncio connection costs about 90 us of CPU per payment (a pooled connection checked
out, nine awaited ``read_response`` calls); this costs one future per round trip. Error replies
come back as exception objects in the list (``ResponseError``, ``NoScriptError``, ...), as
redis-py maps them. A caller that stops waiting (its time budget) leaves its replies to be
read and dropped; a connection that has answered nothing for ``dead_after_s`` while requests
wait is closed, and the next call connects again.
"""

from __future__ import annotations

import asyncio
import collections
import time
from typing import Any

import hiredis
from redis._parsers.base import BaseParser
from redis.asyncio.connection import SSLConnection, UnixDomainSocketConnection, parse_url
from redis.exceptions import AuthenticationError, ConnectionError, InvalidResponse

from fraudops.profile_store.commands import pack


class _Protocol(asyncio.Protocol):
    def __init__(self) -> None:
        self.reader = hiredis.Reader(
            protocolError=InvalidResponse, replyError=BaseParser.parse_error
        )
        # per round trip: replies expected, replies so far, the waiting future
        self.waiting: collections.deque[tuple[int, list[Any], asyncio.Future[list[Any]]]] = (
            collections.deque()
        )
        self.transport: asyncio.Transport | None = None
        self.progress = time.monotonic()  # last reply, or when the queue was last empty

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        self.progress = time.monotonic()
        self.reader.feed(data)
        waiting = self.waiting
        while waiting:
            n, replies, future = waiting[0]
            while len(replies) < n:
                reply = self.reader.gets()
                if reply is False:
                    return
                replies.append(reply)
            waiting.popleft()
            if not future.done():  # a caller past its budget no longer waits
                future.set_result(replies)
        if self.reader.gets() is not False and self.transport is not None:
            self.transport.abort()  # a reply nobody asked for (e.g. "max clients"): out of step

    def connection_lost(self, exc: Exception | None) -> None:
        self.transport = None
        error = ConnectionError(f"redis connection lost: {exc or 'closed by the server'}")
        while self.waiting:
            future = self.waiting.popleft()[2]
            if not future.done():
                future.set_exception(error)

    def send(self, commands: list[list[Any]]) -> asyncio.Future[list[Any]]:
        """The replies of ``commands``, sent in one write."""
        assert self.transport is not None
        future: asyncio.Future[list[Any]] = asyncio.get_running_loop().create_future()
        if not self.waiting:
            self.progress = time.monotonic()
        self.waiting.append((len(commands), [], future))
        self.transport.write(pack(commands))
        return future


class RedisWire:
    """Callers bound every call with their own ``asyncio.timeout``; connecting (with AUTH and
    SELECT) runs as one shared task bounded by ``connect_timeout_s``, so callers that give up
    early neither restart it nor leave half-open sockets behind."""

    def __init__(self, url: str, dead_after_s: float = 1.0, connect_timeout_s: float = 1.0) -> None:
        self.options = parse_url(url)
        self.dead_after_s = dead_after_s
        self.connect_timeout_s = connect_timeout_s
        self._protocol: _Protocol | None = None
        self._connecting: asyncio.Task[_Protocol] | None = None

    async def call(self, commands: list[list[Any]], partial: bool = False) -> list[Any]:
        """The replies of ``commands``, sent in one write. One node: a failure fails them all
        (``partial`` is for ``ClusterWire``'s contract)."""
        if not commands:
            return []
        protocol = await self._connection()
        return await protocol.send(commands)

    async def _connection(self) -> _Protocol:
        protocol = self._protocol
        if protocol is not None and protocol.transport is not None:
            if not protocol.waiting or time.monotonic() - protocol.progress <= self.dead_after_s:
                return protocol  # nothing pending, or replies still coming
            protocol.transport.abort()  # connection_lost fails whoever still waits on it
        self._protocol = None
        if self._connecting is None or self._connecting.done():
            self._connecting = asyncio.ensure_future(self._connect())
            # its failure is raised to the callers still waiting; none may be left to read it
            self._connecting.add_done_callback(lambda t: t.cancelled() or t.exception())
        return await asyncio.shield(self._connecting)

    async def _connect(self) -> _Protocol:
        loop = asyncio.get_running_loop()
        o = self.options
        cls = o.get("connection_class")
        protocol: _Protocol | None = None
        try:
            async with asyncio.timeout(self.connect_timeout_s):
                if cls is UnixDomainSocketConnection:
                    _, protocol = await loop.create_unix_connection(_Protocol, o["path"])
                else:
                    context = None
                    if cls is SSLConnection:  # every ssl_* option of the URL, as redis-py reads
                        tls: dict[str, Any] = {k: v for k, v in o.items() if k.startswith("ssl_")}
                        context = SSLConnection(**tls).ssl_context.get()
                    _, protocol = await loop.create_connection(
                        _Protocol, o.get("host", "localhost"), o.get("port", 6379), ssl=context
                    )
                await self._setup(protocol)
        except BaseException:
            if protocol is not None and protocol.transport is not None:
                protocol.transport.abort()
            raise
        self._protocol = protocol
        return protocol

    async def _setup(self, protocol: _Protocol) -> None:
        o = self.options
        setup: list[list[Any]] = []
        if o.get("password"):
            user = o.get("username")
            setup.append(["AUTH", user, o["password"]] if user else ["AUTH", o["password"]])
        if o.get("db"):
            setup.append(["SELECT", o["db"]])
        if setup:
            for reply in await protocol.send(setup):
                if isinstance(reply, Exception):
                    raise AuthenticationError(f"redis connection setup failed: {reply}")

    def close(self) -> None:
        if self._connecting is not None and not self._connecting.done():
            self._connecting.cancel()
        if self._protocol is not None and self._protocol.transport is not None:
            self._protocol.transport.close()
        self._protocol = None
