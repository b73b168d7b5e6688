"""The Redis profile layout: keys, hash fields, buckets and retention, written down once.

One hash per entity holds time-bucketed aggregates (see docs/profile_store.md):

    {prefix}:c:{<customer_id>}            customer profile hash
    {prefix}:t:{<terminal_id>}            terminal profile hash
    {prefix}:c:{<customer_id>}:x:<tx_id>  "transaction already counted" marker (idempotency)
    {prefix}:c:{<customer_id>}:l:<tx_id>  current label of a transaction as this entity counted it
    {prefix}:r:<tx_id>                    the scoring service's stored answer (idempotency)

The ``{...}`` hash tag puts every key of one entity in one Redis Cluster slot, so each entity's
update is a single-slot Lua script; customer and terminal updates go out pipelined in one round
trip.

Hash fields:

    m:<minute>:n  m:<minute>:a     count / amount (milli-units) per minute bucket   (customer)
    h:<hour>:n    h:<hour>:a       count / amount per hour bucket                   (customer)
    d:<day>:n     d:<day>:a        count / amount per UTC day bucket   (customer; terminal: n only)
    d:<day>:f                      net fraud labels that ARRIVED in that day         (both)
    last                           epoch seconds of the latest transaction           (customer)
    p:<terminal_id>                epoch seconds of the customer's latest tx there   (customer)
    z                              event day of the last pruning of stale fields     (both)

Bucket numbers are ``epoch_seconds // width``. Fields older than their window are deleted at the
first event of each new event day (windows ignore them anyway, so features never depend on it).
Every change is an integer increment or a "keep the maximum" set, so the offline fold (Python)
and the online script (Lua) agree exactly.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from fraudops.schema import Txn

EntityKind = Literal["customer", "terminal"]

MINUTE = 60
HOUR = 3600
DAY = 86400

# Windows the feature contract reads (see fraudops.features.definitions).
LABEL_DELAY_DAYS = 7  # delay of the terminal transaction-count window (Handbook protocol)
MAX_WINDOW_DAYS = 30
KEEP_MINUTES = 60  # longest minute-bucket window: 1 h
KEEP_HOURS = 24  # longest hour-bucket window: 24 h
KEEP_DAYS = LABEL_DELAY_DAYS + MAX_WINDOW_DAYS  # delayed 30-day terminal window
PAIR_HORIZON_S = 90 * DAY  # "first transaction at this terminal" looks back this far

GRANULARITY_WIDTH = {"m": MINUTE, "h": HOUR, "d": DAY}
KEEP_BUCKETS = {"m": KEEP_MINUTES, "h": KEEP_HOURS, "d": KEEP_DAYS}
LAST_FIELD = "last"
PAIR_PREFIX = "p:"
PRUNED_FIELD = "z"


def entity_key(prefix: str, kind: EntityKind, entity_id: str) -> str:
    return f"{prefix}:{kind[0]}:{{{entity_id}}}"


def dedup_key(prefix: str, kind: EntityKind, entity_id: str, transaction_id: str) -> str:
    return f"{entity_key(prefix, kind, entity_id)}:x:{transaction_id}"


def label_key(prefix: str, kind: EntityKind, entity_id: str, transaction_id: str) -> str:
    return f"{entity_key(prefix, kind, entity_id)}:l:{transaction_id}"


def answer_key(prefix: str, transaction_id: str) -> str:
    return f"{prefix}:r:{transaction_id}"


def bucket_field(granularity: str, bucket: int, metric: str) -> str:
    return f"{granularity}:{bucket}:{metric}"


def pair_field(terminal_id: str) -> str:
    return PAIR_PREFIX + terminal_id


@dataclass(frozen=True, slots=True)
class PruneBounds:
    """Oldest bucket (per granularity) and oldest pair timestamp still needed at event time."""

    min_minute: int
    min_hour: int
    min_day: int
    min_pair_ts: int
    day: int  # pruning runs at most once per entity and event day

    @classmethod
    def at(cls, ts: int) -> PruneBounds:
        return cls(
            day=ts // DAY,
            min_minute=ts // MINUTE - KEEP_MINUTES + 1,
            min_hour=ts // HOUR - KEEP_HOURS + 1,
            min_day=ts // DAY - KEEP_DAYS + 1,
            min_pair_ts=ts - PAIR_HORIZON_S,
        )

    def as_args(self) -> list[int]:
        return [self.min_minute, self.min_hour, self.min_day, self.min_pair_ts, self.day]


Increment = tuple[str, int, str, int]  # granularity, bucket, metric, delta


@dataclass(frozen=True, slots=True)
class Update:
    """What one event does to one entity hash: increments, keep-the-maximum sets, pruning."""

    incr: tuple[Increment, ...]
    maxset: tuple[tuple[str, int], ...]
    prune: PruneBounds

    def incr_fields(self) -> list[tuple[str, int]]:
        return [(bucket_field(g, b, m), delta) for g, b, m, delta in self.incr]


def transaction_update(tx: Txn, kind: EntityKind) -> Update:
    """The change a transaction makes to its customer's or its terminal's profile."""
    ts = tx.ts
    day = ts // DAY
    if kind == "customer":
        minute, hour, amount = ts // MINUTE, ts // HOUR, tx.amount_milli
        incr: tuple[Increment, ...] = (
            ("m", minute, "n", 1),
            ("m", minute, "a", amount),
            ("h", hour, "n", 1),
            ("h", hour, "a", amount),
            ("d", day, "n", 1),
            ("d", day, "a", amount),
        )
        maxset: tuple[tuple[str, int], ...] = (
            (LAST_FIELD, ts),
            (pair_field(tx.terminal_id), ts),
        )
    else:
        incr = (("d", day, "n", 1),)
        maxset = ()
    return Update(incr=incr, maxset=maxset, prune=PruneBounds.at(ts))


def label_update(arrival_ts: int, delta: int) -> Update:
    """A label arriving changes the entity's known-fraud count in the arrival day by ``delta``.

    ``delta`` is new_is_fraud - previously_counted_is_fraud, so relabelling never double counts.
    """
    incr: tuple[Increment, ...] = (("d", arrival_ts // DAY, "f", delta),) if delta else ()
    return Update(incr=incr, maxset=(), prune=PruneBounds.at(arrival_ts))
