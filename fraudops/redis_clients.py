"""The one place a profile-store client is made: one Redis, or a Redis Cluster when
``CoreSettings.redis_cluster`` (``REDIS_URL`` then names any node, the seed)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import redis
import redis.asyncio as aredis
from redis.asyncio.cluster import RedisCluster as AsyncRedisCluster
from redis.cluster import RedisCluster
from redis.exceptions import RedisClusterException, RedisError

from fraudops.settings import CoreSettings

SyncClient = redis.Redis | RedisCluster
AsyncClient = aredis.Redis | AsyncRedisCluster
# "Redis is away": what a caller that degrades must catch. A cluster client also raises
# RedisClusterException (no node of its map answers, a slot not covered during a failover),
# which is not a RedisError.
UNAVAILABLE: tuple[type[Exception], ...] = (RedisError, RedisClusterException, OSError)


def sync_client(url: str, cluster: bool, **options: Any) -> SyncClient:
    """``options``: redis-py's connection options (``socket_timeout``...), for either kind."""
    if cluster:
        return RedisCluster.from_url(url, **options)
    return redis.Redis.from_url(url, **options)


def async_client(url: str, cluster: bool, **options: Any) -> AsyncClient:
    if cluster:
        return AsyncRedisCluster.from_url(url, **options)
    return aredis.Redis.from_url(url, **options)


def from_settings(settings: CoreSettings, **options: Any) -> SyncClient:
    return sync_client(settings.redis_url, settings.redis_cluster, **options)


def scan_iter(client: SyncClient, match: str, count: int = 1000) -> Iterator[bytes]:
    """Every key matching ``match``. SCAN walks one node's keys: on a cluster it runs on each
    master in turn (replicas hold copies), each with its own cursor."""
    if not isinstance(client, RedisCluster):
        yield from client.scan_iter(match=match, count=count)
        return
    for node in client.get_primaries():
        cursor = 0
        while True:
            reply: Any = client.scan(cursor, match=match, count=count, target_nodes=node)
            cursors, keys = reply  # redis-py gives {node name: cursor} and the keys
            cursor = cursors[node.name]
            yield from keys
            if cursor == 0:
                break


def pipeline(
    client: SyncClient, commands: list[list[Any]], patience_s: float | None = None
) -> list[Any]:
    """``commands`` in one round trip per node, replies (errors as objects) in their order;
    ``MULTI`` blocks work on either kind. ``patience_s``: on a cluster, how long a node away is
    waited for (default: a failover's length, ``profile_store.cluster.DOWN_FOR_S``)."""
    if isinstance(client, RedisCluster):
        from fraudops.profile_store.cluster import DOWN_FOR_S, run_sync

        return run_sync(client, commands, DOWN_FOR_S if patience_s is None else patience_s)
    pipe = client.pipeline(transaction=False)
    for command in commands:
        pipe.execute_command(*command)
    replies: list[Any] = pipe.execute(raise_on_error=False)
    return replies
