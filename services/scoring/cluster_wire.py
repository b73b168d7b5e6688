"""The hot path on a Redis Cluster: ``RedisWire``'s ``call`` routed by hash slot.

A round trip's commands are cut into units (a single command, or a ``MULTI`` ... ``EXEC`` block,
whose keys share one slot by their hash tag), each unit is sent to the master that owns its slot
(the slot map comes from ``CLUSTER SLOTS``) and the per-node parts go out in parallel, each on its
node's own pipelined ``RedisWire``: a payment still costs one round-trip time. Replies are put
back in the order of the commands, as from one node.

Redirections are followed as Redis Cluster specifies: ``MOVED`` updates the slot and refreshes the
whole map in the background (a failover, a resharding), ``ASK`` resends the unit to the importing
node behind ``ASKING``, ``TRYAGAIN`` (a multi-key unit during a migration) resends it shortly
after. A node that cannot be reached, or ``CLUSTERDOWN``, fails the call (the caller answers
degraded, as with one Redis down) and has the map refreshed before the next call, so a promoted
replica is used without a restart.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Sequence
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from redis.exceptions import (
    AskError,
    ClusterDownError,
    ClusterError,
    ConnectionError,
    MovedError,
    RedisError,
    TryAgainError,
)

from fraudops.profile_store.routing import SLOTS, Node, Unit, units
from fraudops.profile_store.routing import redirect_error as _redirect
from services.scoring.metrics import CLUSTER_REDIRECTS
from services.scoring.wire import RedisWire

log = logging.getLogger("fraudops.scoring")
_MOVED, _ASK, _TRYAGAIN, _REFRESH = (
    CLUSTER_REDIRECTS.labels(kind) for kind in ("moved", "ask", "tryagain", "refreshes")
)

MAX_REDIRECTS = 5  # MOVED / ASK rounds of one call
MAX_TRYAGAIN = 400  # rounds of TRYAGAIN pauses (2 s); the caller's time budget ends it sooner
REFRESH_EVERY_S = 0.1  # at most this often, however many calls see a stale map
TRYAGAIN_PAUSE_S = 0.005


def parse_slots(reply: Sequence[Any]) -> list[Node | None]:
    """``CLUSTER SLOTS`` as the master of each slot (None where no master serves it)."""
    table: list[Node | None] = [None] * SLOTS
    for start, end, master, *_replicas in reply:
        host = master[0].decode() if isinstance(master[0], bytes) else str(master[0])
        node = (host, int(master[1]))
        for slot in range(int(start), int(end) + 1):
            table[slot] = node
    return table


def nodes_of(reply: Sequence[Any]) -> list[Node]:
    """Every node ``CLUSTER SLOTS`` names, masters first (where to ask for the map next)."""
    masters, replicas = [], []
    for _start, _end, master, *others in reply:
        masters.append(master)
        replicas += others
    return list(dict.fromkeys(
        (n[0].decode() if isinstance(n[0], bytes) else str(n[0]), int(n[1]))
        for n in [*masters, *replicas]
    ))  # fmt: skip


class ClusterWire:
    """Same contract as ``RedisWire``: ``call(commands)`` -> replies (error replies as exception
    objects), bounded by the caller's own ``asyncio.timeout``."""

    def __init__(self, url: str, dead_after_s: float = 1.0, connect_timeout_s: float = 1.0) -> None:
        self.url = urlsplit(url)
        self.seeds: list[Node] = [(self.url.hostname or "127.0.0.1", self.url.port or 6379)]
        self.dead_after_s, self.connect_timeout_s = dead_after_s, connect_timeout_s
        self.table: list[Node | None] | None = None
        self.known: list[Node] = []  # every node CLUSTER SLOTS named, replicas too
        self.wires: dict[Node, RedisWire] = {}
        self._stale = True
        self._refreshed_at = 0.0
        self._refreshing: asyncio.Task[None] | None = None

    def _wire(self, node: Node) -> RedisWire:
        wire = self.wires.get(node)
        if wire is None:  # the seed URL's scheme, credentials and TLS options, this node's address
            user = self.url.netloc.rpartition("@")[0]
            netloc = (f"{user}@" if user else "") + f"{node[0]}:{node[1]}"
            url = urlunsplit((self.url.scheme, netloc, "/0", self.url.query, ""))
            wire = self.wires[node] = RedisWire(url, self.dead_after_s, self.connect_timeout_s)
        return wire

    async def call(self, commands: list[list[Any]], partial: bool = False) -> list[Any]:
        """``partial``: a node that cannot be reached gives its units' replies as the error
        (other nodes' replies stand: a caller retries only what failed); else it is raised."""
        if not commands:
            return []
        replies: list[Any] = [None] * len(commands)
        pending = units(commands)
        asking: dict[Unit, Node] = {}
        redirected = paused = 0
        while True:
            table = await self._table()
            by_node: dict[Node, list[Unit]] = {}
            for unit in pending:
                node = asking.get(unit) or table[unit[2] if unit[2] >= 0 else 0]
                if node is None:
                    self._stale = True
                    down = ClusterDownError(f"slot {unit[2]} is served by no master")
                    if not partial:
                        raise down
                    replies[unit[0] : unit[1]] = [down] * (unit[1] - unit[0])
                    continue
                by_node.setdefault(node, []).append(unit)
            sent = [self._send(node, part, commands, asking) for node, part in by_node.items()]
            results = await asyncio.gather(*sent, return_exceptions=True)
            retry: list[Unit] = []
            again: dict[Unit, Node] = {}
            redirect = wait = False
            for part, result in zip(by_node.values(), results, strict=True):
                if isinstance(result, BaseException):
                    self._stale = True  # a failover may be under way: ask the cluster again
                    if not partial or not isinstance(result, (RedisError, OSError)):
                        raise result
                    for unit in part:
                        replies[unit[0] : unit[1]] = [result] * (unit[1] - unit[0])
                    continue
                for unit, got in zip(part, result, strict=True):
                    error = _redirect(got)
                    if error is None:
                        replies[unit[0] : unit[1]] = got
                        continue
                    retry.append(unit)
                    if isinstance(error, MovedError):
                        _MOVED.inc()
                        table[error.slot_id] = error.node_addr
                        self._stale = redirect = True
                    elif isinstance(error, AskError):
                        _ASK.inc()
                        again[unit] = error.node_addr
                        redirect = True
                    elif isinstance(error, TryAgainError):
                        # keys half moved: ask the same node again shortly (behind ASKING if
                        # ASK sent it there), until the migration of the slot ends
                        _TRYAGAIN.inc()
                        if unit in asking:
                            again[unit] = asking[unit]
                        wait = True
                    else:  # CLUSTERDOWN: the shard has no master yet
                        self._stale = True
                        if not partial:
                            raise error
                        retry.pop()
                        replies[unit[0] : unit[1]] = [error] * (unit[1] - unit[0])
            if not retry:
                return replies
            redirected += redirect
            if wait:
                paused += 1
                await asyncio.sleep(TRYAGAIN_PAUSE_S)
            if redirected > MAX_REDIRECTS or paused > MAX_TRYAGAIN:
                raise ClusterError(f"still redirected after {redirected} + {paused} rounds")
            pending, asking = retry, again

    async def _send(
        self, node: Node, part: list[Unit], commands: list[list[Any]], asking: dict[Unit, Node]
    ) -> list[list[Any]]:
        """One write to ``node`` with every unit of ``part`` (behind ``ASKING`` when ``ASK``
        sent it there); the replies cut per unit."""
        batch: list[list[Any]] = []
        for unit in part:
            if unit in asking:
                batch.append(["ASKING"])
            batch += commands[unit[0] : unit[1]]
        got = await self._wire(node).call(batch)
        out: list[list[Any]] = []
        at = 0
        for unit in part:
            at += unit in asking  # ASKING's +OK
            out.append(got[at : at + unit[1] - unit[0]])
            at += unit[1] - unit[0]
        return out

    async def _table(self) -> list[Node | None]:
        if self.table is not None and not self._stale:
            return self.table
        if self.table is not None and time.monotonic() - self._refreshed_at < REFRESH_EVERY_S:
            return self.table  # refreshed a moment ago: MOVED keeps single slots right meanwhile
        if self._refreshing is None or self._refreshing.done():
            self._refreshing = asyncio.ensure_future(self._refresh())
            self._refreshing.add_done_callback(lambda t: t.cancelled() or t.exception())
        await asyncio.shield(self._refreshing)
        assert self.table is not None
        return self.table

    async def _refresh(self) -> None:
        """The slot map from the first node that answers: known masters first, then the seeds."""
        errors = []
        for node in dict.fromkeys([*self.known, *self.seeds]):
            try:
                reply = await self._wire(node).call([["CLUSTER", "SLOTS"]])
            except (RedisError, OSError) as exc:
                errors.append(f"{node[0]}:{node[1]} {type(exc).__name__}")
                continue
            if isinstance(reply[0], Exception):
                errors.append(f"{node[0]}:{node[1]} {reply[0]}")
                continue
            table = parse_slots(reply[0])
            _REFRESH.inc()
            self.known = nodes_of(reply[0])
            for gone in set(self.wires) - set(table) - set(self.seeds):
                self.wires.pop(gone).close()  # no longer a master: its connection goes
            self.table, self._stale = table, False
            self._refreshed_at = time.monotonic()
            return
        self._refreshed_at = time.monotonic()
        log.warning("redis cluster: no node gave the slot map: %s", "; ".join(errors))
        raise ConnectionError("no node of the Redis Cluster answers CLUSTER SLOTS")

    def close(self) -> None:
        if self._refreshing is not None and not self._refreshing.done():
            self._refreshing.cancel()
        for wire in self.wires.values():
            wire.close()
        self.wires.clear()
