"""Synchronous profile-store client (pipelines, tools, tests); see aio.py for the services."""

from __future__ import annotations

from typing import Any

from fraudops import redis_clients
from fraudops.profile_store.commands import (
    SCRIPT,
    Command,
    Profiles,
    StoreConfig,
    exec_results,
    label_evalsha,
    needs_script,
    parse_tx_replies,
    raise_errors,
    replace_state_commands,
    tx_commands,
)
from fraudops.profile_store.layout import EntityKind, entity_key
from fraudops.profile_store.state import EntityState
from fraudops.schema import Txn
from fraudops.settings import CoreSettings


class ProfileStore:
    """Reads and atomically updates customer and terminal profiles in one round trip."""

    def __init__(self, client: redis_clients.SyncClient, config: StoreConfig | None = None) -> None:
        self.redis = client
        self.config = config or StoreConfig()

    @classmethod
    def from_settings(cls, settings: CoreSettings | None = None) -> ProfileStore:
        s = settings or CoreSettings()
        client = redis_clients.from_settings(s, socket_timeout=max(s.redis_timeout_s, 1.0))
        return cls(client, StoreConfig.from_settings(s))

    def _run(self, commands: list[Command], patience_s: float | None = None) -> list[Any]:
        """One pipeline (one round trip); loads the script and resends if Redis lost it (on a
        cluster, per node, resending only what did not run; ``patience_s``: see
        ``redis_clients.pipeline``)."""
        replies: list[Any] = []
        for _attempt in (0, 1):
            replies = redis_clients.pipeline(self.redis, commands, patience_s)
            if not needs_script(replies):
                break
            self.redis.script_load(SCRIPT)
        return replies

    def read(self, customer_id: str, terminal_id: str) -> tuple[EntityState, EntityState]:
        pipe = self.redis.pipeline(transaction=False)
        pipe.hgetall(entity_key(self.config.prefix, "customer", customer_id))
        pipe.hgetall(entity_key(self.config.prefix, "terminal", terminal_id))
        customer, terminal = pipe.execute()
        return EntityState.from_hash(customer), EntityState.from_hash(terminal)

    def read_entity(self, kind: EntityKind, entity_id: str) -> EntityState:
        raw = self.redis.hgetall(entity_key(self.config.prefix, kind, entity_id))
        return EntityState.from_hash(raw)

    def apply_transaction(self, tx: Txn) -> Profiles:
        """Count ``tx`` once in both profiles; return both profiles as they were before it."""
        return parse_tx_replies(self._run(tx_commands(self.config, tx)))

    def apply_label(
        self,
        transaction_id: str,
        customer_id: str,
        terminal_id: str,
        arrival_ts: int,
        is_fraud: bool,
        patience_s: float | None = None,
    ) -> tuple[int, int]:
        """Record a label that ARRIVED at ``arrival_ts``; returns (customer, terminal) deltas.
        ``patience_s``: on a cluster, how long a master away is waited for (a failover)."""
        cmds = [
            label_evalsha(
                self.config, "customer", customer_id, transaction_id, arrival_ts, is_fraud
            ),
            label_evalsha(
                self.config, "terminal", terminal_id, transaction_id, arrival_ts, is_fraud
            ),
        ]
        c_delta, t_delta = raise_errors(self._run(cmds, patience_s))
        return int(c_delta), int(t_delta)

    def write_state(self, kind: EntityKind, entity_id: str, state: EntityState) -> None:
        """Replace an entity's profile (backfill) atomically, so reruns converge."""
        exec_results(
            self._run(replace_state_commands(self.config, kind, entity_id, state.to_hash()))
        )
