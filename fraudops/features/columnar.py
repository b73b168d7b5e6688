"""The point-in-time fold of a whole batch at once: the same features, computed per column.

:class:`fraudops.features.offline.EntityFold` replays one event at a time through an
:class:`EntityState` (as the Redis script does). Here the events of every entity of one kind are
sorted once in event order, and the state each transaction saw is represented by what the feature
definitions read from it: window sums become differences of prefix sums over the sorted events
(two binary searches per window), the latest transaction and the latest one at each terminal come
from the previous event of the same entity (and terminal). The definitions themselves are the same
functions (see fraudops.features.definitions and fraudops.features.ops), called with columns, so
the values are the same float64s as the event-by-event fold's; tests hold the two equal.
"""

from __future__ import annotations

from typing import Any, cast

import numpy as np
import pandas as pd

from fraudops.features.contract import Entity
from fraudops.features.ops import Array, Known
from fraudops.features.vector import PART_NAMES, SPECS
from fraudops.profile_store.layout import (
    DAY,
    GRANULARITY_WIDTH,
    LAST_FIELD,
    PAIR_PREFIX,
    PRUNED_FIELD,
    EntityKind,
    PruneBounds,
    label_update,
    transaction_update,
)
from fraudops.readers import epoch_seconds
from fraudops.schema import OPTIONAL_COLUMNS, Txn

ENTITY_COLUMN = {"customer": "customer_id", "terminal": "terminal_id"}
_SAFE = 2**62  # integer sums of one batch stay below this: int64 never overflows


def _objects(frame: pd.DataFrame, column: str) -> Array:
    """An optional text column as objects, missing values None (as iter_txns gives them)."""
    values: Array = frame[column].to_numpy(dtype=object, na_value=None)  # type: ignore[call-overload]
    return values


def _ids(frame: pd.DataFrame, column: str) -> Any:
    """An id column as it is stored (an Arrow string array, usually): ids are only compared."""
    return frame[column].array


class TxColumns:
    """A column of transactions with the attributes of :class:`Txn` (as arrays).

    ``transaction_id``, ``customer_id`` and ``terminal_id`` keep the frame's array type; optional
    columns the frame does not have read as all None."""

    __slots__ = (
        "amount",
        "amount_milli",
        "customer_id",
        "terminal_id",
        "transaction_id",
        "ts",
        *OPTIONAL_COLUMNS,  # currency, mcc, country, channel
    )

    transaction_id: Array
    ts: Array
    customer_id: Array
    terminal_id: Array
    amount: Array
    amount_milli: Array

    @classmethod
    def from_frame(cls, frame: pd.DataFrame) -> TxColumns:
        """A validated canonical frame (``ts`` in epoch seconds may replace ``timestamp``)."""
        cols = cls()
        cols.transaction_id = _ids(frame, "transaction_id")
        if "ts" in frame.columns:
            cols.ts = frame["ts"].to_numpy(dtype=np.int64)
        else:
            cols.ts = epoch_seconds(frame["timestamp"])
        cols.customer_id = _ids(frame, "customer_id")
        cols.terminal_id = _ids(frame, "terminal_id")
        cols.amount = frame["amount"].astype("float64").to_numpy()
        # as Txn: round(amount * 1000) (half to even)
        cols.amount_milli = np.rint(cols.amount * 1000).astype(np.int64)
        for name in OPTIONAL_COLUMNS:
            if name in frame.columns:
                setattr(cols, name, _objects(frame, name))
        return cols

    def __getattr__(self, name: str) -> Array:  # only called for a column not set
        if name in OPTIONAL_COLUMNS:
            return np.full(len(self), None)
        raise AttributeError(name)

    def __len__(self) -> int:
        return len(self.ts)

    def take(self, index: Array) -> TxColumns:
        out = TxColumns()
        for name in self.__slots__:
            try:
                values = object.__getattribute__(self, name)
            except AttributeError:
                continue
            setattr(out, name, values[index])
        return out


class LabelColumns:
    """Label events: transaction_id, customer_id, terminal_id, arrival_ts, is_fraud."""

    __slots__ = ("arrival_ts", "customer_id", "is_fraud", "terminal_id", "transaction_id")

    def __init__(self, frame: pd.DataFrame) -> None:
        self.transaction_id = _ids(frame, "transaction_id")
        self.customer_id = _ids(frame, "customer_id")
        self.terminal_id = _ids(frame, "terminal_id")
        self.arrival_ts = frame["arrival_ts"].to_numpy(dtype=np.int64)
        self.is_fraud = frame["is_fraud"].to_numpy().astype(bool).astype(np.int64)

    def __len__(self) -> int:
        return len(self.arrival_ts)

    def before(self, as_of: int) -> LabelColumns:
        keep = self.arrival_ts < as_of
        out = LabelColumns.__new__(LabelColumns)
        for name in self.__slots__:
            setattr(out, name, getattr(self, name)[keep])
        return out


def _kept(kind: EntityKind) -> tuple[set[str], bool, bool]:
    """The series an entity of ``kind`` keeps, and whether it keeps ``last`` and pairs."""
    probe = transaction_update(Txn("probe", 0, "c", "t", 1.0), kind)
    series = {g + m for g, _, m, _ in probe.incr}
    series |= {g + m for g, _, m, _ in label_update(0, 1).incr}
    fields = [f for f, _ in probe.maxset]
    return series, LAST_FIELD in fields, any(f.startswith(PAIR_PREFIX) for f in fields)


def _order_ties_by_id(
    order: Array, ent: Array, time: Array, is_label: Array, tx_ids: Any, label_ids: Any
) -> None:
    """Events of one entity at the same second and of the same type go in id order (in place):
    sorting every event by its id string costs more than these few runs."""
    e, t, lab = ent[order], time[order], is_label[order]
    tie = (e[1:] == e[:-1]) & (t[1:] == t[:-1]) & (lab[1:] == lab[:-1])
    if not tie.any():
        return
    n = len(tx_ids)
    edges = np.diff(np.concatenate([[0], tie.astype(np.int8), [0]]))
    for start, stop in zip(np.flatnonzero(edges == 1), np.flatnonzero(edges == -1), strict=True):
        run = order[start : stop + 1]  # stop: the last event equal to its predecessor
        ids = [tx_ids[j] if j < n else label_ids[j - n] for j in run]
        order[start : stop + 1] = run[sorted(range(len(run)), key=ids.__getitem__)]


class ColumnarState:
    """Every transaction's entity state just before it, as the features read it (column form).

    Events are sorted by entity, then in event order: time, transactions before labels, id.
    ``window_sum`` and the other readers answer for all transactions at once, in that order.
    """

    def __init__(self, kind: EntityKind, txs: TxColumns, labels: LabelColumns) -> None:
        n, m = len(txs), len(labels)
        column = ENTITY_COLUMN[kind]
        entities = pd.concat(
            [pd.Series(getattr(txs, column)), pd.Series(getattr(labels, column))],
            ignore_index=True,
        )
        codes, self.entity_ids = pd.factorize(entities)
        ent = codes.astype(np.int64)
        time = np.concatenate([txs.ts, labels.arrival_ts])
        is_label = np.concatenate([np.zeros(n, np.int8), np.ones(m, np.int8)])
        order = np.lexsort((is_label, time, ent))  # stable: ties keep the input order
        _order_ties_by_id(order, ent, time, is_label, txs.transaction_id, labels.transaction_id)
        self.ent, self.time = ent[order], time[order]
        is_tx = order < n
        self.tx_pos = np.flatnonzero(is_tx)  # where each transaction sits among the events
        self.tx_index = order[is_tx]  # and which input row it is
        self.tx_ent = self.ent[self.tx_pos]
        self.tx_time = self.time[self.tx_pos]
        self.txs = txs.take(self.tx_index)  # the transactions in this order

        label_pos = np.flatnonzero(~is_tx)
        label_row = order[~is_tx] - n
        delta = np.zeros(n + m, np.int64)
        self.labels_now: list[tuple[int, str, int]] = []  # (entity, transaction_id, label)
        if m:  # a label changes the count by new - previous label of the same transaction
            lab_ent = self.ent[label_pos]
            lab_id = pd.factorize(pd.Series(labels.transaction_id))[0][label_row]
            by_tx = np.lexsort((label_pos, lab_id, lab_ent))
            value = labels.is_fraud[label_row][by_tx]
            same = (lab_ent[by_tx][1:] == lab_ent[by_tx][:-1]) & (
                lab_id[by_tx][1:] == lab_id[by_tx][:-1]
            )
            previous = np.concatenate([[0], np.where(same, value[:-1], 0)])
            delta[label_pos[by_tx]] = value - previous
            last = np.flatnonzero(np.concatenate([~same, [True]]))  # each one's latest label
            rows = label_row[by_tx][last]
            self.labels_now = list(
                zip(
                    lab_ent[by_tx][last].tolist(),
                    [labels.transaction_id[r] for r in rows],
                    value[last].tolist(),
                    strict=True,
                )
            )
        count = is_tx.astype(np.int64)
        amount = np.zeros(n + m, np.int64)
        amount[self.tx_pos] = txs.amount_milli[self.tx_index]
        self.values = {"n": count, "a": amount, "f": delta}  # what each event adds, per metric
        self.prefix = {
            metric: np.concatenate([[0], np.cumsum(values)])
            for metric, values in self.values.items()
        }
        self.series, self.keeps_last, self.keeps_pairs = _kept(kind)
        self._keys: dict[str, tuple[Array, int, int]] = {}
        self._ranges: dict[tuple[str, int, int], tuple[Array, Array]] = {}
        self._pair_prev: Array | None = None

    @staticmethod
    def safe(txs: TxColumns) -> bool:
        """Whether a batch's integer sums fit int64 (else use the event-by-event fold)."""
        if not len(txs):
            return True
        top = int(txs.amount_milli.max())
        return top * len(txs) < _SAFE and int(txs.amount_milli.sum()) < _SAFE

    # --- what the features read --------------------------------------------------------------
    def _bucket_keys(self, gran: str) -> tuple[Array, int, int]:
        """Sorted keys (entity, bucket) of the events; bucket offsets start at 1."""
        found = self._keys.get(gran)
        if found is None:
            bucket = self.time // GRANULARITY_WIDTH[gran]
            low = int(bucket.min()) if len(bucket) else 0
            span = (int(bucket.max()) - low if len(bucket) else 0) + 3
            found = self._keys[gran] = (self.ent * span + (bucket - low + 1), low, span)
        return found

    def _range(self, gran: str, first: Array, last: Array) -> tuple[Array, Array]:
        """Event positions [lo, hi) of each transaction's entity in buckets first..last, and
        before the transaction itself."""
        bucket = self.tx_time // GRANULARITY_WIDTH[gran]
        d_first, d_last = first - bucket, last - bucket
        key = None
        if len(bucket) and d_first.min() == d_first.max() and d_last.min() == d_last.max():
            key = (gran, int(d_first[0]), int(d_last[0]))
            found = self._ranges.get(key)
            if found is not None:
                return found
        keys, low, span = self._bucket_keys(gran)
        base = self.tx_ent * span
        lo = np.searchsorted(keys, base + np.clip(first - low + 1, 0, span - 1), "left")
        hi = np.searchsorted(keys, base + np.clip(last - low + 1, 0, span - 1), "right")
        found = (lo, np.maximum(np.minimum(hi, self.tx_pos), lo))
        if key is not None:
            self._ranges[key] = found
        return found

    def window_sum(self, series: str, first: Array, last: Array) -> Array:
        """Sum of one series over buckets first..last inclusive, per transaction."""
        if series not in self.series:
            return np.zeros(len(self.tx_pos), np.int64)
        lo, hi = self._range(series[0], first, last)
        prefix = self.prefix[series[1:]]
        result: Array = prefix[hi] - prefix[lo]
        return result

    @property
    def last_ts(self) -> Known:
        """The entity's latest earlier transaction time."""
        same = np.zeros(len(self.tx_pos), bool)
        if self.keeps_last:
            same[1:] = self.tx_ent[1:] == self.tx_ent[:-1]
        return Known(np.concatenate([[0], self.tx_time[:-1]])[: len(same)], same)

    def _previous_at_terminal(self) -> Array:
        """Index (in transaction order) of the entity's previous transaction at the same
        terminal, -1 for none."""
        if self._pair_prev is None:
            n = len(self.tx_pos)
            prev = np.full(n, -1, np.int64)
            if self.keeps_pairs and n:
                term, _ = pd.factorize(self.txs.terminal_id)
                by_pair = np.lexsort((np.arange(n), term, self.tx_ent))
                same = (self.tx_ent[by_pair][1:] == self.tx_ent[by_pair][:-1]) & (
                    term[by_pair][1:] == term[by_pair][:-1]
                )
                prev[by_pair[1:]] = np.where(same, by_pair[:-1], -1)
            self._pair_prev = prev
        return self._pair_prev

    def _own_terminals(self, terminal_id: Array) -> None:
        if terminal_id is not self.txs.terminal_id:
            raise NotImplementedError("columnar pairs are read at each transaction's terminal")

    def pair_ts(self, terminal_id: Array) -> Known:
        """The latest earlier transaction of the entity at this transaction's terminal (older
        ones than the store keeps included: features only compare them with recent times)."""
        self._own_terminals(terminal_id)
        prev = self._previous_at_terminal()
        return Known(self.tx_time[np.maximum(prev, 0)], prev >= 0)

    def terminals_since(self, since: Array, current: Array) -> Array:
        """Distinct terminals of the entity's earlier transactions after ``since``, and this
        transaction's own terminal."""
        self._own_terminals(current)
        n = len(self.tx_pos)
        if not n:
            return np.zeros(0, np.int64)
        low = int(self.tx_time.min())
        span = int(self.tx_time.max()) - low + 3
        keys = self.tx_ent * span + (self.tx_time - low + 1)
        base = self.tx_ent * span
        start = np.searchsorted(keys, base + np.clip(since - low + 1, 0, span - 1), "right")
        if (np.diff(start) < 0).any():
            raise NotImplementedError("columnar distinct terminals need a non-decreasing since")
        # a transaction whose terminal was already used at position p is a repeat, not a new
        # terminal, for every later transaction whose window still starts at or before p
        row = np.arange(n)
        prev = self._previous_at_terminal()
        last = np.searchsorted(start, prev, "right") - 1
        repeat = (prev >= 0) & (last >= row)
        marks = np.bincount(row[repeat], minlength=n + 1) - np.bincount(
            last[repeat] + 1, minlength=n + 1
        )
        repeats = np.cumsum(marks)[:n]
        result: Array = row - start + 1 - repeats
        return result


def _column(value: Any, n: int) -> Array:
    if isinstance(value, np.ndarray):
        return value
    return np.full(n, value)


def part_columns(entity: Entity, txs: TxColumns, state: ColumnarState | None) -> pd.DataFrame:
    """One entity's features of every transaction, PART_NAMES[entity] columns (row order)."""
    cols = cast(Any, txs)
    specs = [s for s in SPECS if s.entity == entity]
    data = {s.name: _column(s.fn(cols, cast(Any, state), cols.ts), len(txs)) for s in specs}
    return pd.DataFrame(data, columns=list(PART_NAMES[entity]))


def _state_before(
    kind: EntityKind, txs: TxColumns, labels: LabelColumns, as_of: int | None
) -> ColumnarState | None:
    """The fold over the events before ``as_of``; None when its sums would not fit int64."""
    if as_of is not None:
        txs = txs.take(np.flatnonzero(txs.ts < as_of))
        labels = labels.before(as_of)
    return ColumnarState(kind, txs, labels) if ColumnarState.safe(txs) else None


def fold_part_frame(
    kind: EntityKind,
    transactions: pd.DataFrame,
    labels: pd.DataFrame,
    as_of: int | None = None,
) -> pd.DataFrame | None:
    """``kind``'s feature part (transaction_id + PART_NAMES[kind]) of every transaction, or None
    when the batch's sums would not fit int64 (then fold event by event)."""
    state = _state_before(kind, TxColumns.from_frame(transactions), LabelColumns(labels), as_of)
    if state is None:
        return None
    frame = part_columns(kind, state.txs, state)
    frame.insert(0, "transaction_id", state.txs.transaction_id)
    return frame


# --- final profiles (the backfill) ---------------------------------------------------------------
Profile = tuple[str, dict[str, int], dict[str, int]]  # entity id, profile hash, labels counted


def final_profiles(
    kind: EntityKind,
    transactions: pd.DataFrame,
    labels: pd.DataFrame,
    as_of: int | None = None,
) -> list[Profile] | None:
    """Every entity's profile hash (as :meth:`EntityState.to_hash`) and counted labels after
    all its events before ``as_of``: what the event-by-event fold ends with, or None when the
    sums would not fit int64.

    The fold prunes at the first event of each event day, and bounds only grow, so what is
    left is what the last of those prunings keeps: a bucket at or after its granularity's floor
    (PruneBounds at that event) whose sum is not 0 (the script deletes a field that falls to 0),
    and each terminal's latest transaction unless older than the pair horizon then.
    """
    column = ENTITY_COLUMN[kind]
    txs = TxColumns.from_frame(transactions)
    label_cols = LabelColumns(labels)
    every = pd.unique(
        pd.concat([pd.Series(getattr(txs, column)), pd.Series(getattr(label_cols, column))])
    )
    state = _state_before(kind, txs, label_cols, as_of)
    if state is None:
        return None
    hashes: list[dict[str, int]] = [{} for _ in range(len(state.entity_ids))]
    counted: list[dict[str, int]] = [{} for _ in range(len(state.entity_ids))]
    ent, time = state.ent, state.time
    if len(ent):
        starts = np.flatnonzero(np.concatenate([[True], ent[1:] != ent[:-1]]))
        ends = np.concatenate([starts[1:], [len(ent)]])
        block_ent = ent[starts]
        block = np.repeat(np.arange(len(starts)), ends - starts)
        # the last pruning: the first event of each entity's last event day
        day_keys = state._bucket_keys("d")[0]
        pruned_at = time[np.searchsorted(day_keys, day_keys[ends - 1], "left")]
        bounds = PruneBounds.at(pruned_at)
        floors = {"m": bounds.min_minute, "h": bounds.min_hour, "d": bounds.min_day}
        for series in sorted(state.series):
            gran, metric = series[0], series[1:]
            keys = state._bucket_keys(gran)[0]
            first = np.flatnonzero(np.concatenate([[True], keys[1:] != keys[:-1]]))
            sums = np.add.reduceat(state.values[metric], first)
            bucket = time[first] // GRANULARITY_WIDTH[gran]
            keep = (sums != 0) & (bucket >= cast(Array, floors[gran])[block[first]])
            for e, b, v in zip(
                ent[first][keep].tolist(), bucket[keep].tolist(), sums[keep].tolist(), strict=True
            ):
                hashes[e][f"{gran}:{b}:{metric}"] = v
        if state.keeps_last and len(state.tx_pos):
            tx_ent = state.tx_ent
            last = np.flatnonzero(np.concatenate([tx_ent[1:] != tx_ent[:-1], [True]]))
            for e, ts in zip(tx_ent[last].tolist(), state.tx_time[last].tolist(), strict=True):
                hashes[e][LAST_FIELD] = ts
        if state.keeps_pairs and len(state.tx_pos):
            _pair_latest(state, hashes, block, cast(Array, bounds.min_pair_ts))
        for e, d in zip(block_ent.tolist(), (time[ends - 1] // DAY).tolist(), strict=True):
            hashes[e][PRUNED_FIELD] = d
    for e, transaction_id, value in state.labels_now:
        counted[e][transaction_id] = value
    index = {entity_id: i for i, entity_id in enumerate(state.entity_ids)}
    out: list[Profile] = []
    for entity_id in every:
        i = index.get(entity_id)
        out.append((entity_id, {}, {}) if i is None else (entity_id, hashes[i], counted[i]))
    return out


def _pair_latest(
    state: ColumnarState, hashes: list[dict[str, int]], block: Array, min_pair_ts: Array
) -> None:
    """p:<terminal> = the entity's latest transaction there, if not older than the bound."""
    n = len(state.tx_pos)
    term, _ = pd.factorize(state.txs.terminal_id)
    by_pair = np.lexsort((np.arange(n), term, state.tx_ent))
    ent, term_sorted = state.tx_ent[by_pair], term[by_pair]
    last = np.flatnonzero(
        np.concatenate([(ent[1:] != ent[:-1]) | (term_sorted[1:] != term_sorted[:-1]), [True]])
    )
    rows = by_pair[last]
    ts = state.tx_time[rows]
    keep = ts >= min_pair_ts[block[state.tx_pos[rows]]]
    terminals = state.txs.terminal_id
    for e, r, t in zip(
        ent[last][keep].tolist(), rows[keep].tolist(), ts[keep].tolist(), strict=True
    ):
        hashes[e][PAIR_PREFIX + terminals[r]] = t
