"""The profile store's round trips on a Redis Cluster (redis-py's ``RedisCluster`` clients).

redis-py's cluster pipeline refuses ``MULTI`` blocks, which the store's writes are made of, so
the store routes them itself (:mod:`fraudops.profile_store.routing`): each master gets its units
in one non-transactional pipeline on its own connection (the asyncio client writes to the masters
in parallel), ``MOVED`` and ``CLUSTERDOWN`` have the client's slot map fetched again, ``ASK`` sends
the unit behind ``ASKING``, a node that cannot be reached (a failover under way) is retried after
a pause until ``DOWN_FOR_S``, and only what failed is sent again, so nothing is counted twice.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Sequence
from typing import Any

import redis
import redis.asyncio as aredis
from redis.asyncio.cluster import RedisCluster as AsyncRedisCluster
from redis.cluster import RedisCluster
from redis.exceptions import ClusterError, ConnectionError, TimeoutError

from fraudops.profile_store.commands import SCRIPT, needs_script
from fraudops.profile_store.routing import Node, Routing

MAX_ROUNDS = 60  # redirections, TRYAGAIN and node-away pauses of one call
PAUSE_S = 0.2
DOWN_FOR_S = 15.0  # a failover takes node-timeout + election (a few seconds)
AWAY = (ConnectionError, TimeoutError, OSError)
NO_MAP: tuple[type[Exception], ...] = (
    *AWAY,
    ClusterError,
)  # no node gives the map yet: the next round tries again


def run_sync(
    client: RedisCluster, commands: Sequence[Sequence[Any]], patience_s: float = DOWN_FOR_S
) -> list[Any]:
    """Replies in the order of ``commands``, as one node's pipeline gives them; a node away (a
    failover under way) is waited for ``patience_s`` at most, then ClusterError."""
    call = Routing(commands)
    manager = client.nodes_manager
    started = time.monotonic()
    for _round in range(MAX_ROUNDS):
        plan = call.plan(lambda slot: _address(manager.get_node_from_slot(slot)))
        for node, part in plan.items():
            try:
                conn = _sync_node(client, node)
                pipe = conn.pipeline(transaction=False)
                for command in call.batch(part):
                    pipe.execute_command(*command)
                got = pipe.execute(raise_on_error=False)
            except AWAY as exc:
                call.fail(part, exc)
                continue
            if needs_script(got):
                conn.script_load(SCRIPT)
            call.take(part, got, needs_script)
        if not call.next_round():
            return call.replies
        if call.wait:
            time.sleep(PAUSE_S)
        if call.moved:
            _refresh_sync(client)
        if time.monotonic() - started > patience_s:
            break
    raise ClusterError(f"cluster call unfinished after {_round + 1} rounds")


def _address(node: Any) -> Node:
    return (str(node.host), int(node.port))


def _refresh_sync(client: RedisCluster) -> None:
    with contextlib.suppress(*NO_MAP):
        client.nodes_manager.initialize()


def _sync_node(client: RedisCluster, node: Node) -> redis.Redis:
    found = client.get_node(host=node[0], port=node[1])
    if found is None:  # an ASK to a node the map does not know yet
        _refresh_sync(client)
        found = client.get_node(host=node[0], port=node[1])
    if found is None:
        raise ConnectionError(f"cluster node {node[0]}:{node[1]} is unknown")
    return client.get_redis_connection(found)


class AsyncClusterRunner:
    """The asyncio twin of :func:`run_sync`; one ``redis.asyncio.Redis`` per master, made from
    the cluster client's own connection settings (TLS, credentials)."""

    def __init__(self, client: AsyncRedisCluster) -> None:
        self.client = client
        self.conns: dict[Node, aredis.Redis] = {}

    def _conn(self, node: Node) -> aredis.Redis:
        conn = self.conns.get(node)
        if conn is None:
            kwargs: dict[str, Any] = dict(self.client.get_connection_kwargs())
            kwargs.pop("response_callbacks", None)  # the cluster's, not a Connection option
            kwargs.update(host=node[0], port=node[1])
            pool = aredis.ConnectionPool(**kwargs)
            conn = self.conns[node] = aredis.Redis(connection_pool=pool)
        return conn

    async def _send(self, node: Node, batch: list[Sequence[Any]]) -> list[Any]:
        conn = self._conn(node)
        pipe = conn.pipeline(transaction=False)
        for command in batch:
            pipe.execute_command(*command)
        got: list[Any] = await pipe.execute(raise_on_error=False)
        if needs_script(got):
            await conn.script_load(SCRIPT)
        return got

    async def run(self, commands: Sequence[Sequence[Any]]) -> list[Any]:
        await self.client.initialize()
        manager = self.client.nodes_manager
        call = Routing(commands)
        started = time.monotonic()
        for _round in range(MAX_ROUNDS):
            plan = call.plan(lambda slot: _address(manager.get_node_from_slot(slot)))
            sent = [self._send(node, call.batch(part)) for node, part in plan.items()]
            results = await asyncio.gather(*sent, return_exceptions=True)
            for part, got in zip(plan.values(), results, strict=True):
                if isinstance(got, AWAY):
                    call.fail(part, got)
                elif isinstance(got, BaseException):
                    raise got
                else:
                    call.take(part, got, needs_script)
            if not call.next_round():
                return call.replies
            if call.wait:
                await asyncio.sleep(PAUSE_S)
            if call.moved:
                with contextlib.suppress(*NO_MAP):
                    await manager.initialize()
            if time.monotonic() - started > DOWN_FOR_S:
                break
        raise ClusterError(f"cluster call unfinished after {_round + 1} rounds")

    async def aclose(self) -> None:
        for conn in self.conns.values():
            await conn.aclose()
        self.conns.clear()
