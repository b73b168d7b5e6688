"""The one place a profile-store client is made: one Redis, or a Redis Cluster when
``CoreSettings.redis_cluster`` (``REDIS_URL`` then names any node, the seed)."""

from __future__ import annotations

from typing import Any

import redis
import redis.asyncio as aredis
from redis.asyncio.cluster import RedisCluster as AsyncRedisCluster
from redis.cluster import RedisCluster

from fraudops.settings import CoreSettings

SyncClient = redis.Redis | RedisCluster
AsyncClient = aredis.Redis | AsyncRedisCluster


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


def pipeline(client: SyncClient, commands: list[list[Any]]) -> list[Any]:
    """``commands`` in one round trip per node, replies (errors as objects) in their order;
    ``MULTI`` blocks work on either kind."""
    if isinstance(client, RedisCluster):
        from fraudops.profile_store.cluster import run_sync

        return run_sync(client, commands)
    pipe = client.pipeline(transaction=False)
    for command in commands:
        pipe.execute_command(*command)
    replies: list[Any] = pipe.execute(raise_on_error=False)
    return replies
