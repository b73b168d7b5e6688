"""The Redis commands of the profile store, shared by the sync and the asyncio client.

A transaction is, per entity, ``MULTI; HGETALL; EVALSHA apply_update; EXEC`` (single slot, atomic:
the HGETALL answers the state just before the event), both entities in one pipeline: one round trip.
Commands are plain argument lists sent with EVALSHA (redis-py's Script objects would add a SCRIPT
EXISTS round trip per pipeline); after a SCRIPT FLUSH or failover the client loads it and retries.
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
from fraudops.settings import CoreSettings

SCRIPT = resources.files("fraudops.profile_store").joinpath("apply_update.lua").read_text()
SCRIPT_SHA = hashlib.sha1(SCRIPT.encode()).hexdigest()


@dataclass(frozen=True, slots=True)
class StoreConfig:
    prefix: str = "fo"
    profile_ttl_s: int = 120 * 86400
    dedup_ttl_s: int = 7 * 86400
    label_state_ttl_s: int = 60 * 86400

    @classmethod
    def from_settings(cls, s: CoreSettings) -> StoreConfig:
        return cls(s.key_prefix, s.profile_ttl_s, s.dedup_ttl_s, s.label_state_ttl_s)


@dataclass(frozen=True, slots=True)
class Profiles:
    """The state of both entities of a transaction just before it was applied."""

    customer: EntityState
    terminal: EntityState
    applied: bool  # False: this transaction_id had been counted already (nothing changed)


Command = list[Any]


def tx_evalsha(cfg: StoreConfig, tx: Txn, kind: EntityKind) -> Command:
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
    for field, delta in update.incr_fields():
        args += (field, delta)
    args.append(len(update.maxset))
    for field, value in update.maxset:
        args += (field, value)
    return args


def replace_state_commands(
    cfg: StoreConfig, kind: EntityKind, entity_id: str, fields: dict[str, int]
) -> list[Command]:
    """``MULTI; DEL; HSET; EXPIRE; EXEC``: an entity's whole profile, replaced atomically."""
    key = entity_key(cfg.prefix, kind, entity_id)
    commands: list[Command] = [["MULTI"], ["DEL", key]]
    if fields:
        hset: Command = ["HSET", key]
        for field, value in fields.items():
            hset += (field, value)
        commands.append(hset)
        if cfg.profile_ttl_s:
            commands.append(["EXPIRE", key, cfg.profile_ttl_s])
    commands.append(["EXEC"])
    return commands


def label_evalsha(
    cfg: StoreConfig,
    kind: EntityKind,
    entity_id: str,
    transaction_id: str,
    arrival_ts: int,
    is_fraud: bool,
) -> Command:
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


def tx_commands(cfg: StoreConfig, tx: Txn) -> list[Command]:
    """Both entities: read-before and update, each atomic in its own single-slot MULTI."""
    commands: list[Command] = []
    for kind, entity_id in (("customer", tx.customer_id), ("terminal", tx.terminal_id)):
        commands += [
            ["MULTI"],
            ["HGETALL", entity_key(cfg.prefix, kind, entity_id)],  # type: ignore[arg-type]
            tx_evalsha(cfg, tx, kind),  # type: ignore[arg-type]
            ["EXEC"],
        ]
    return commands


def pack(commands: list[Command]) -> bytes:
    """Commands as one RESP request: the same bytes as redis-py's ``pack_commands``, in a third
    of its time (the hot path sends nine commands per payment)."""
    out: list[bytes] = []
    for command in commands:
        out.append(b"*%d\r\n" % len(command))
        for arg in command:
            if isinstance(arg, str):
                raw = arg.encode()
            elif isinstance(arg, bytes):
                raw = arg
            elif isinstance(arg, int) and not isinstance(arg, bool):
                raw = b"%d" % arg
            elif isinstance(arg, float):
                raw = repr(arg).encode()
            else:
                raise TypeError(f"cannot send {type(arg).__name__} to Redis")
            out.append(b"$%d\r\n%s\r\n" % (len(raw), raw))
    return b"".join(out)


def exec_results(replies: list[Any]) -> list[list[Any]]:
    """The EXEC answers of a pipeline of MULTI blocks, errors raised (NoScriptError first)."""
    blocks: list[list[Any]] = []
    for reply in replies:
        if isinstance(reply, Exception):
            raise reply
        if isinstance(reply, list):
            for item in reply:
                if isinstance(item, Exception):
                    raise item
            blocks.append(reply)
    return blocks


def parse_tx_replies(replies: list[Any]) -> Profiles:
    (c_fields, c_applied), (t_fields, _t_applied) = exec_results(replies)
    return Profiles(
        customer=EntityState.from_hash(c_fields)
        if isinstance(c_fields, dict)
        else EntityState.from_flat(c_fields),
        terminal=EntityState.from_hash(t_fields)
        if isinstance(t_fields, dict)
        else EntityState.from_flat(t_fields),
        applied=bool(c_applied),
    )


def raise_errors(replies: list[Any]) -> list[Any]:
    for reply in replies:
        if isinstance(reply, Exception):
            raise reply
    return replies


def needs_script(replies: list[Any]) -> bool:
    """True when the server did not know the script (first use, SCRIPT FLUSH, failover)."""
    for reply in replies:
        items = reply if isinstance(reply, list) else [reply]
        for item in items:
            if isinstance(item, NoScriptError) or (
                isinstance(item, Exception) and "NOSCRIPT" in str(item)
            ):
                return True
    return False
