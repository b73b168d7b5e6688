"""The scoring log's record: what the scoring service decided, as it goes through a Redis Stream.

The scoring service appends one entry per fresh decision (``XADD``, batched with the stored answers:
no extra round trip on the hot path); the feedback service's consumer group moves entries into SQL
and acknowledges them only after the commit, so an entry is never lost between the two (delivery
is at least once; the SQL insert ignores a transaction already logged). The alerts service reads
the same stream with its own group. Redis keeps the entries until the consumers take them: run it
with AOF in production (``appendonly yes``) so a Redis restart keeps them too.
"""

from __future__ import annotations

import functools
import zlib
from collections.abc import Sequence
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import orjson
from redis.crc import REDIS_CLUSTER_HASH_SLOTS, key_slot

from fraudops.schema import Txn

FIELD = b"d"
MAXLEN = 1_000_000  # approximate cap: a consumer down for days must not exhaust Redis memory


def stream_key(prefix: str) -> str:
    """The log's one stream (``FRAUDOPS_LOG_SHARDS=1``, the default, and before sharding)."""
    return f"{prefix}:log:scored"


def stream_keys(prefix: str, shards: int = 1) -> list[str]:
    """The log's streams. On a Redis Cluster one stream is one slot, so one master takes every
    write and every read: ``shards`` streams spread them. Their hash tags are chosen so their
    slots are evenly spaced over the 16,384 (a cluster whose masters split the slots evenly, as
    ``redis-cli --cluster create`` does, gets the same number of streams on each master when
    ``shards`` is a multiple of the masters)."""
    if shards == 1:
        return [stream_key(prefix)]
    return [f"{prefix}:log:scored:{{{tag}}}" for tag in _tags(shards)]


def consumer_keys(prefix: str, shards: int = 1) -> list[str]:
    """What the consumers read: the shards, and the single stream of before while it holds
    entries written before the deployment was sharded."""
    keys = stream_keys(prefix, shards)
    return keys if shards == 1 else [*keys, stream_key(prefix)]


def shard_of(customer_id: str, shards: int) -> int:
    """The stream of a customer's decisions: all in one, so a consumer sees them in order."""
    return zlib.crc32(customer_id.encode("utf-8", "surrogatepass")) % shards if shards > 1 else 0


@functools.cache
def _tags(shards: int) -> tuple[str, ...]:
    width = REDIS_CLUSTER_HASH_SLOTS / shards
    tags: list[str] = []
    j = 0
    for i in range(shards):
        while not i * width <= key_slot(f"ls{j}".encode()) < (i + 1) * width:
            j += 1
        tags.append(f"ls{j}")
    return tuple(tags)


def encode(
    tx: Txn,
    features: list[Any],
    score: float,
    decision: str,
    model_version: str,
    degraded: bool,
    scored_at: float,
    reasons: list[dict[str, Any]] | None = None,
    *,
    request_id: str | None = None,
    rules: tuple[str, Sequence[str], str] | None = None,
) -> bytes:
    """One decision as the log keeps it; ``rules``: (rule-set version, the rules that fired, the
    model's own decision), present only while a rule set is active: ``decision`` is then the
    final one, and the model is judged on ``model_decision``."""
    doc = {
        "transaction_id": tx.transaction_id,
        "ts": tx.ts,
        "customer_id": tx.customer_id,
        "terminal_id": tx.terminal_id,
        "amount_milli": tx.amount_milli,
        "currency": tx.currency,
        "mcc": tx.mcc,
        "country": tx.country,
        "channel": tx.channel,
        "score": score,
        "decision": decision,
        "model_version": model_version,
        "degraded": degraded,
        "features": features,
        "reasons": reasons or [],
        "scored_at": scored_at,
        "request_id": request_id,
    }
    if rules is not None:
        doc["rules_version"], doc["rules"], doc["model_decision"] = (
            rules[0],
            list(rules[1]),
            rules[2],
        )
    return orjson.dumps(doc)


def decode(raw: bytes) -> dict[str, Any]:
    """A scoring-log entry as a ``scored_transactions`` row (ValueError/KeyError if malformed)."""
    d = orjson.loads(raw)
    shadow = d.get("shadow") or {}  # the challenger's verdict (services/scoring/shadow.py)
    return {
        "transaction_id": str(d["transaction_id"]),
        "timestamp": datetime.fromtimestamp(int(d["ts"]), UTC),
        "customer_id": str(d["customer_id"]),
        "terminal_id": str(d["terminal_id"]),
        "amount": Decimal(int(d["amount_milli"])) / 1000,
        "currency": d.get("currency"),
        "mcc": d.get("mcc"),
        "country": d.get("country"),
        "channel": d.get("channel"),
        "score": float(d["score"]),
        "decision": str(d["decision"]),
        "model_version": str(d["model_version"]),
        "degraded": bool(d["degraded"]),
        "features": orjson.dumps(d["features"]).decode(),
        "scored_at": datetime.fromtimestamp(float(d["scored_at"]), UTC),
        "shadow_model_version": shadow.get("model_version"),
        "shadow_score": None if shadow.get("score") is None else float(shadow["score"]),
        "shadow_decision": shadow.get("decision"),
        "rules_version": d.get("rules_version"),
        "rules_fired": orjson.dumps(d["rules"]).decode() if "rules" in d else None,
        "model_decision": d.get("model_decision"),
    }
