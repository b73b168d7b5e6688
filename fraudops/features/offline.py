"""Point-in-time features offline: fold each entity's events in time order through the same code.

This is the single-process form of what the Beam dataset pipeline distributes (one entity per
key): for every transaction the entity state holds exactly the transactions before it and the
labels that ARRIVED strictly before it. At equal timestamps transactions come before labels (a
label arriving at the very second of a payment was not known when it was scored), then ids order.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np
import pandas as pd

from fraudops.features.contract import Value
from fraudops.features.vector import FEATURE_NAMES, ORDER_INDEX, PART_NAMES, part_values
from fraudops.profile_store.layout import DAY, EntityKind, label_update, transaction_update
from fraudops.profile_store.state import EntityState
from fraudops.readers import epoch_seconds, iter_txns
from fraudops.schema import Txn

TX, LABEL = 0, 1


@dataclass(frozen=True, slots=True)
class LabelEvent:
    transaction_id: str
    customer_id: str
    terminal_id: str
    arrival_ts: int
    is_fraud: bool


Event = Txn | LabelEvent


def event_order(event: Event) -> tuple[int, int, str]:
    if isinstance(event, Txn):
        return (event.ts, TX, event.transaction_id)
    return (event.arrival_ts, LABEL, event.transaction_id)


LABEL_FRAME_COLUMNS = ["transaction_id", "customer_id", "terminal_id", "arrival_ts", "is_fraud"]


def fixed_delay_label_frame(history: pd.DataFrame, delay_days: int = 7) -> pd.DataFrame:
    """The Handbook protocol: every fraud label becomes known ``delay_days`` after its payment."""
    frauds = history.loc[history["is_fraud"] == 1]
    arrival = epoch_seconds(frauds["timestamp"]) + delay_days * DAY
    ids = frauds[["transaction_id", "customer_id", "terminal_id"]]
    return ids.assign(arrival_ts=arrival, is_fraud=np.int8(1)).reset_index(drop=True)


def fixed_delay_labels(history: pd.DataFrame, delay_days: int = 7) -> list[LabelEvent]:
    return label_events(fixed_delay_label_frame(history, delay_days))


class EntityFold:
    """One entity's running state; mirrors what the Redis script does event by event."""

    __slots__ = ("kind", "labels", "state")

    def __init__(self, kind: EntityKind, state: EntityState | None = None) -> None:
        self.kind = kind
        self.state = state or EntityState()
        self.labels: dict[str, int] = {}

    def transaction(self, tx: Txn) -> list[Value]:
        """This entity's features of ``tx`` (PART_NAMES order) from the state before it."""
        values = part_values(self.kind, tx, self.state)
        self.state.apply(transaction_update(tx, self.kind))
        return values

    def label(self, event: LabelEvent) -> int:
        new = int(event.is_fraud)
        delta = new - self.labels.get(event.transaction_id, 0)
        self.labels[event.transaction_id] = new
        self.state.apply(label_update(event.arrival_ts, delta))
        return delta


def entity_of(kind: EntityKind, event: Event) -> str:
    return event.customer_id if kind == "customer" else event.terminal_id


def fold_entities(
    kind: EntityKind,
    events: Iterable[Event],
    as_of: int | None = None,
    features: bool = True,
) -> tuple[dict[str, list[Value]], dict[str, EntityFold]]:
    """Fold every entity of ``kind`` through its events in event order.

    Returns this entity kind's feature part per transaction id (when ``features``) and each
    entity's final fold. With ``as_of``, only events strictly before it count (a backfill cut-off).
    """
    grouped: dict[str, list[Event]] = {}
    for event in events:
        grouped.setdefault(entity_of(kind, event), []).append(event)
    parts: dict[str, list[Value]] = {}
    folds: dict[str, EntityFold] = {}
    for entity_id, entity_events in grouped.items():
        entity_events.sort(key=event_order)
        fold = folds[entity_id] = EntityFold(kind)
        for event in entity_events:
            if as_of is not None and event_order(event)[0] >= as_of:
                break
            if isinstance(event, Txn):
                if features:
                    parts[event.transaction_id] = fold.transaction(event)
                else:
                    fold.state.apply(transaction_update(event, kind))
            else:
                fold.label(event)
    return parts, folds


def label_events(labels: pd.DataFrame) -> list[LabelEvent]:
    """Frame with transaction_id, customer_id, terminal_id, arrival_ts, is_fraud -> events."""
    return [
        LabelEvent(t, c, m, int(a), bool(f))
        for t, c, m, a, f in zip(
            labels["transaction_id"],
            labels["customer_id"],
            labels["terminal_id"],
            labels["arrival_ts"],
            labels["is_fraud"],
            strict=True,
        )
    ]


def point_in_time_features(
    history: pd.DataFrame, labels: Iterable[LabelEvent] = ()
) -> pd.DataFrame:
    """Feature rows (contract order) for every transaction of a validated canonical history."""
    txns = list(iter_txns(history))
    label_list = list(labels)
    c_parts, _ = fold_entities("customer", [*txns, *label_list])
    t_parts, _ = fold_entities("terminal", [*txns, *label_list])
    return feature_frame(txns, c_parts, t_parts)


def labelled_feature_frame(history: pd.DataFrame, delay_days: int = 7) -> pd.DataFrame:
    """The rows of a dataset version without Beam: ids, timestamp, ``is_fraud`` and every
    feature, fraud labels known ``delay_days`` after their payment (the Handbook protocol)."""
    feats = point_in_time_features(history, fixed_delay_labels(history, delay_days))
    keys = history[["transaction_id", "timestamp", "customer_id", "terminal_id", "is_fraud"]]
    return keys.merge(feats, on="transaction_id", validate="one_to_one")


def feature_frame(
    txns: list[Txn],
    c_parts: dict[str, list[Value]],
    t_parts: dict[str, list[Value]],
) -> pd.DataFrame:
    """Assemble rows in contract order; ``transaction_id`` first."""
    rows = []
    for tx in txns:
        values = [
            *part_values("transaction", tx),
            *c_parts[tx.transaction_id],
            *t_parts[tx.transaction_id],
        ]
        rows.append([values[i] for i in ORDER_INDEX])
    frame = pd.DataFrame(rows, columns=list(FEATURE_NAMES))
    frame.insert(0, "transaction_id", np.asarray([t.transaction_id for t in txns], dtype=object))
    return frame


def part_frame(kind: EntityKind, parts: dict[str, list[Value]]) -> pd.DataFrame:
    """One entity kind's parts as a frame: transaction_id + PART_NAMES[kind] columns."""
    frame = pd.DataFrame(list(parts.values()), columns=list(PART_NAMES[kind]))
    frame.insert(0, "transaction_id", list(parts.keys()))
    return frame
