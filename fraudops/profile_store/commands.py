"""The Redis commands of the profile store, shared by the sync and the asyncio client.

Commands are built here as plain argument lists and sent with EVALSHA inside one pipeline, so a
transaction costs one round trip (redis-py's Script objects would add a SCRIPT EXISTS per pipeline).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from importlib import resources
from typing import Any

from redis.exceptions import NoScriptError

from fraudops.profile_store.layout import (
    DAY,
    EntityKind,
    PruneBounds,
    bucket_field,
    dedup_key,
    entity_key,
    label_key,
    transaction_update,
)
from fraudops.profile_store.state import EntityState
from fraudops.schema import Txn

SCRIPT = resources.files("fraudops.profile_store").joinpath("apply_update.lua").read_text()
SCRIPT_SHA = hashlib.sha1(SCRIPT.encode()).hexdigest()


@dataclass(frozen=True, slots=True)
class StoreConfig:
    prefix: str = "fo"
    profile_ttl_s: int = 120 * 86400
    dedup_ttl_s: int = 7 * 86400
    label_state_ttl_s: int = 60 * 86400


@dataclass(frozen=True, slots=True)
class Profiles:
    """The state of both entities of a transaction just before it was applied."""

    customer: EntityState
    terminal: EntityState
    applied: bool  # False: this transaction_id had been counted already (nothing changed)


def tx_evalsha(cfg: StoreConfig, tx: Txn, kind: EntityKind) -> list[Any]:
    entity_id = tx.customer_id if kind == "customer" else tx.terminal_id
    update = transaction_update(tx, kind)
    args: list[Any] = [
        "EVALSHA",
        SCRIPT_SHA,
        2,
        entity_key(cfg.prefix, kind, entity_id),
        dedup_key(cfg.prefix, kind, entity_id, tx.transaction_id),
        "tx",
        cfg.dedup_ttl_s,
        cfg.profile_ttl_s,
        *update.prune.as_args(),
        len(update.incr),
    ]
    for field, delta in update.incr:
        args += (field, delta)
    args.append(len(update.maxset))
    for field, value in update.maxset:
        args += (field, value)
    return args


def label_evalsha(
    cfg: StoreConfig,
    kind: EntityKind,
    entity_id: str,
    transaction_id: str,
    arrival_ts: int,
    is_fraud: bool,
) -> list[Any]:
    return [
        "EVALSHA",
        SCRIPT_SHA,
        2,
        entity_key(cfg.prefix, kind, entity_id),
        label_key(cfg.prefix, kind, entity_id, transaction_id),
        "label",
        cfg.label_state_ttl_s,
        cfg.profile_ttl_s,
        *PruneBounds.at(arrival_ts).as_args(),
        int(is_fraud),
        bucket_field("d", arrival_ts // DAY, "f"),
    ]


def parse_tx_replies(replies: list[Any]) -> Profiles:
    (c_applied, c_fields), (_t_applied, t_fields) = replies
    return Profiles(
        customer=EntityState.from_flat(c_fields),
        terminal=EntityState.from_flat(t_fields),
        applied=bool(c_applied),
    )


def is_noscript(reply: Any) -> bool:
    return isinstance(reply, NoScriptError)
