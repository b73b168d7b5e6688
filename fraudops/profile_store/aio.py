"""asyncio profile-store client for the services: same commands, same single round trip."""

from __future__ import annotations

from typing import Any

import redis.asyncio as aredis
from redis.asyncio.cluster import RedisCluster

from fraudops.profile_store.cluster import AsyncClusterRunner
from fraudops.profile_store.commands import (
    SCRIPT,
    Command,
    Profiles,
    StoreConfig,
    label_evalsha,
    needs_script,
    parse_tx_replies,
    raise_errors,
    tx_commands,
)
from fraudops.profile_store.layout import entity_key
from fraudops.profile_store.state import EntityState
from fraudops.schema import Txn


class AsyncProfileStore:
    """The asyncio twin of :class:`fraudops.profile_store.client.ProfileStore`."""

    def __init__(
        self, client: aredis.Redis | RedisCluster, config: StoreConfig | None = None
    ) -> None:
        self.redis = client
        self.config = config or StoreConfig()
        self.cluster = AsyncClusterRunner(client) if isinstance(client, RedisCluster) else None

    async def _run(self, commands: list[Command]) -> list[Any]:
        """One pipeline (one round trip); loads the script and resends if Redis lost it."""
        if self.cluster is not None:  # per node, in parallel; the runner loads the script
            return await self.cluster.run(commands)
        replies: list[Any] = []
        for _attempt in (0, 1):
            assert isinstance(self.redis, aredis.Redis)
            pipe = self.redis.pipeline(transaction=False)
            for cmd in commands:
                pipe.execute_command(*cmd)
            replies = await pipe.execute(raise_on_error=False)
            if not needs_script(replies):
                break
            await self.redis.script_load(SCRIPT)
        return replies

    async def read(self, customer_id: str, terminal_id: str) -> tuple[EntityState, EntityState]:
        pipe = self.redis.pipeline(transaction=False)
        pipe.hgetall(entity_key(self.config.prefix, "customer", customer_id))
        pipe.hgetall(entity_key(self.config.prefix, "terminal", terminal_id))
        customer, terminal = await pipe.execute()
        return EntityState.from_hash(customer), EntityState.from_hash(terminal)

    async def apply_transaction(self, tx: Txn) -> Profiles:
        return parse_tx_replies(await self._run(tx_commands(self.config, tx)))

    async def apply_label(
        self,
        transaction_id: str,
        customer_id: str,
        terminal_id: str,
        arrival_ts: int,
        is_fraud: bool,
    ) -> tuple[int, int]:
        cmds = [
            label_evalsha(
                self.config, "customer", customer_id, transaction_id, arrival_ts, is_fraud
            ),
            label_evalsha(
                self.config, "terminal", terminal_id, transaction_id, arrival_ts, is_fraud
            ),
        ]
        c_delta, t_delta = raise_errors(await self._run(cmds))
        return int(c_delta), int(t_delta)
