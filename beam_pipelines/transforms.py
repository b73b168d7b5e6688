"""The composite transforms every pipeline is built from (batch and streaming share them).

Data moves as DataFrame chunks keyed by stable shards: transactions by ``transaction_id`` shard,
entity events by customer or terminal shard. Each shard's entities are folded in event order by the
core's columnar fold (fraudops.features.columnar), which runs the same feature definitions the
scoring service runs, on whole columns, and gives the same final profiles as the core's EntityFold
(which still folds a batch whose integer sums would not fit int64).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any

import apache_beam as beam
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
from apache_beam.metrics.metric import Metrics
from apache_beam.pvalue import PCollection

from beam_pipelines.io import DEAD_LETTER
from beam_pipelines.outputs import COUNTS, Outputs, split, tagged_count
from beam_pipelines.sharding import split_frame
from fraudops.features import FEATURE_NAMES
from fraudops.features.columnar import TxColumns, final_profiles, fold_part_frame, part_columns
from fraudops.features.offline import (
    LABEL_FRAME_COLUMNS,
    LabelEvent,
    fixed_delay_label_frame,
    fold_entities,
    label_events,
    part_frame,
)
from fraudops.profile_store.layout import EntityKind
from fraudops.pseudonyms import ErasedCustomers
from fraudops.readers import epoch_seconds, iter_txns
from fraudops.schema import Txn

ENTITY_COLUMN = {"customer": "customer_id", "terminal": "terminal_id"}
# what each fold reads: less data through every shuffle (the customer fold needs the terminal
# for distinct-terminal features; categorical features come from the transaction itself)
FOLD_COLUMNS = {
    "customer": ["transaction_id", "ts", "customer_id", "terminal_id", "amount"],
    "terminal": ["transaction_id", "ts", "customer_id", "terminal_id", "amount"],
}


def fold_projection(frame: pd.DataFrame, kind: str) -> pd.DataFrame:
    slim = frame.assign(ts=epoch_seconds(frame["timestamp"]))
    return slim[FOLD_COLUMNS[kind]]


def _concat(frames: Iterable[pd.DataFrame]) -> pd.DataFrame:
    frames = [f for f in frames if len(f)]
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()


class _Reconcile(beam.DoFn):
    """One transaction shard: drop duplicate ids, attach entities to labels, pick the target."""

    def __init__(
        self,
        label_delay_days: int | None,
        label_cutoff: int | None,
        erased: ErasedCustomers | None = None,
    ) -> None:
        self.label_delay_days = label_delay_days
        self.label_cutoff = label_cutoff
        self.erased = erased

    def process(self, element: tuple[int, dict[str, list[pd.DataFrame]]]) -> Iterator[Any]:
        _, groups = element
        txs = _concat(groups["history"])
        if txs.empty:  # labels whose transactions are nowhere in the history
            for lab in groups["labels"]:
                yield tagged_count("reconcile.labels_for_unknown_transactions", len(lab))
                for tid in lab["transaction_id"]:
                    yield beam.pvalue.TaggedOutput(
                        DEAD_LETTER,
                        {"kind": "labels", "transaction_id": tid, "error": "unknown transaction"},
                    )
            return
        txs = txs.sort_values(["timestamp", "transaction_id"], kind="stable", ignore_index=True)
        dup = txs["transaction_id"].duplicated(keep="first")
        if dup.any():
            yield tagged_count("reconcile.duplicate_transactions", int(dup.sum()))
            for tid in txs.loc[dup, "transaction_id"]:
                yield beam.pvalue.TaggedOutput(
                    DEAD_LETTER, {"kind": "history", "transaction_id": tid, "error": "duplicate id"}
                )
            txs = txs.loc[~dup].reset_index(drop=True)
        raw_labels = _concat(groups["labels"])
        if self.erased:  # erased customers: their payments and labels are not read at all
            gone = self.erased.mask(txs["customer_id"])
            if gone.any():
                yield tagged_count("reconcile.erased_customer_transactions", int(gone.sum()))
                if not raw_labels.empty:
                    erased_ids = txs.loc[gone, "transaction_id"]
                    raw_labels = raw_labels.loc[~raw_labels["transaction_id"].isin(erased_ids)]
                txs = txs.loc[~gone].reset_index(drop=True)
        labels, orphans, late = self._labels(txs, raw_labels)
        yield tagged_count("reconcile.labels_for_unknown_transactions", len(orphans))
        yield tagged_count("reconcile.labels_after_cutoff", late)
        for tid in orphans:
            yield beam.pvalue.TaggedOutput(
                DEAD_LETTER,
                {"kind": "labels", "transaction_id": tid, "error": "unknown transaction"},
            )
        yield beam.pvalue.TaggedOutput("labels", labels)
        yield tagged_count("reconcile.transactions", len(txs))
        yield txs

    def _labels(self, txs: pd.DataFrame, raw: pd.DataFrame) -> tuple[pd.DataFrame, list[str], int]:
        """Label events with their entities, the unknown ids and the number of labels after the
        cut-off; sets the target on ``txs``.

        Events are the label files' (as they arrived) plus, with a delay, the history's own
        ``is_fraud`` known that many days after the payment; the latest arrival up to the cut-off
        is a transaction's target, else its history ``is_fraud``, else legitimate.
        """
        frames, orphans, late_n = [], [], 0
        if not raw.empty:
            entities = txs[["transaction_id", "customer_id", "terminal_id"]]
            merged = raw.merge(entities, on="transaction_id", how="left", indicator=True)
            orphan = merged["_merge"] == "left_only"
            orphans = list(merged.loc[orphan, "transaction_id"])
            frames.append(merged.loc[~orphan, LABEL_FRAME_COLUMNS])
        truth = "is_fraud" in txs.columns
        if self.label_delay_days is not None and truth:
            frames.append(fixed_delay_label_frame(txs, self.label_delay_days))
        frames = [f for f in frames if len(f)]
        labels = (
            pd.concat(frames, ignore_index=True)
            if frames
            else pd.DataFrame(columns=LABEL_FRAME_COLUMNS)
        )
        if self.label_cutoff is not None and len(labels):
            late = labels["arrival_ts"] > self.label_cutoff
            late_n = int(late.sum())
            labels = labels.loc[~late]
        latest = labels.sort_values(["arrival_ts"], kind="stable").drop_duplicates(
            "transaction_id", keep="last"
        )
        target = txs["transaction_id"].map(latest.set_index("transaction_id")["is_fraud"])
        history_known = (
            txs["is_fraud"].notna()
            if truth and self.label_delay_days is not None
            else pd.Series(False, index=txs.index)
        )
        txs["label_known"] = target.notna() | history_known
        base = txs["is_fraud"] if truth else pd.Series(0, index=txs.index)
        txs["is_fraud"] = target.fillna(base).fillna(0).astype("int8")
        return labels.reset_index(drop=True), orphans, late_n


class ReconcileByTransaction(beam.PTransform[dict[str, PCollection[Any]], Outputs]):
    """History + label chunks -> per-shard transactions, labels, dead letter and counts.

    ``erased``: customers erased under the right to erasure; their rows are dropped here, before
    anything is computed from them (counted in ``reconcile.erased_customer_transactions``).

    Label files' events are used as they arrived; with ``label_delay_days``, the history's own
    ``is_fraud`` is known that many days after the payment too (the Handbook protocol).
    """

    def __init__(
        self,
        shards: int,
        label_delay_days: int | None = 7,
        label_cutoff: int | None = None,
        erased: ErasedCustomers | None = None,
    ) -> None:
        super().__init__()
        self.shards = shards
        self.label_delay_days = label_delay_days
        self.label_cutoff = label_cutoff
        self.erased = erased

    def expand(self, inputs: dict[str, PCollection[Any]]) -> Outputs:
        shards = self.shards
        keyed = {
            name: pcoll
            | f"Key{name.title()}" >> beam.FlatMap(split_frame, "transaction_id", shards)
            for name, pcoll in inputs.items()
        }
        grouped = keyed | "Group" >> beam.CoGroupByKey()
        fn = _Reconcile(self.label_delay_days, self.label_cutoff, self.erased)
        return split(grouped, "Reconcile", fn, ("labels", DEAD_LETTER, COUNTS), "transactions")


class _FoldShard(beam.DoFn):
    def __init__(self, kind: EntityKind, tx_shards: int, as_of: int | None, features: bool) -> None:
        self.kind = kind
        self.tx_shards = tx_shards
        self.as_of = as_of
        self.features = features
        self.folded = Metrics.counter("fold", f"{kind}_transactions")
        self.entities = Metrics.counter("fold", f"{kind}_entities")

    def process(self, element: tuple[int, Iterable[tuple[str, pd.DataFrame]]]) -> Iterator[Any]:
        shard, grouped = element
        # one pass: a large GroupByKey value may be a lazily paged, single-pass iterable
        tagged = list(grouped)
        tx_frames = [f for tag, f in tagged if tag == "tx"]
        label_frames = [f for tag, f in tagged if tag == "label"]
        if self.features:
            yield from self._features(tx_frames, label_frames)
            return
        profiles = self._profiles(tx_frames, label_frames)
        self.entities.inc(len(profiles))
        yield shard, profiles

    def _profiles(
        self, tx_frames: list[pd.DataFrame], label_frames: list[pd.DataFrame]
    ) -> list[tuple[str, dict[str, int], dict[str, int]]]:
        """Each entity's final profile hash and counted labels (columnar; else event by event)."""
        txs, labels = _concat(tx_frames), _concat(label_frames)
        if not txs.empty:
            if labels.empty:
                labels = pd.DataFrame(columns=LABEL_FRAME_COLUMNS)
            profiles = final_profiles(self.kind, txs, labels, self.as_of)
            if profiles is not None:
                return profiles
        events: list[Any] = []
        for frame in tx_frames:
            events.extend(iter_txns(frame))
        for frame in label_frames:
            events.extend(label_events(frame))
        _, folds = fold_entities(self.kind, events, self.as_of, features=False)
        return [
            (entity_id, fold.state.to_hash(), dict(fold.labels))
            for entity_id, fold in folds.items()
        ]

    def _features(
        self, tx_frames: list[pd.DataFrame], label_frames: list[pd.DataFrame]
    ) -> Iterator[tuple[int, pd.DataFrame]]:
        """The shard's feature parts by the columnar fold (the event fold if it cannot)."""
        column = ENTITY_COLUMN[self.kind]
        txs, labels = _concat(tx_frames), _concat(label_frames)
        entity_ids = [f[column] for f in (txs, labels) if len(f)]
        self.entities.inc(len(pd.unique(pd.concat(entity_ids))) if entity_ids else 0)
        if txs.empty:
            return
        if labels.empty:
            labels = pd.DataFrame(columns=LABEL_FRAME_COLUMNS)
        part = fold_part_frame(self.kind, txs, labels, self.as_of)
        if part is None:  # sums beyond int64: one event at a time, with Python integers
            events: list[Txn | LabelEvent] = [*iter_txns(txs), *label_events(labels)]
            parts, _ = fold_entities(self.kind, events, self.as_of)
            part = part_frame(self.kind, parts)
        self.folded.inc(len(part))
        if len(part):
            yield from split_frame(part, "transaction_id", self.tx_shards)


class FoldEntities(beam.PTransform[tuple[PCollection[Any], PCollection[Any]], PCollection[Any]]):
    """Transactions + labels -> per-entity fold: feature parts by tx shard, or final states."""

    def __init__(
        self,
        kind: EntityKind,
        shards: int,
        tx_shards: int,
        as_of: int | None = None,
        features: bool = True,
    ) -> None:
        super().__init__()
        self.kind, self.shards, self.tx_shards = kind, shards, tx_shards
        self.as_of, self.features = as_of, features

    def expand(self, inputs: tuple[PCollection[Any], PCollection[Any]]) -> PCollection[Any]:
        transactions, labels = inputs
        column, shards = ENTITY_COLUMN[self.kind], self.shards

        kind = self.kind

        def tagged(frame: pd.DataFrame, tag: str) -> Iterator[tuple[int, tuple[str, Any]]]:
            if tag == "tx":
                frame = fold_projection(frame, kind)
            for s, part in split_frame(frame, column, shards):
                yield s, (tag, part)

        folded: PCollection[Any] = (
            (
                transactions | "KeyTx" >> beam.FlatMap(tagged, "tx"),
                labels | "KeyLabels" >> beam.FlatMap(tagged, "label"),
            )
            | "Merge" >> beam.Flatten()
            | "GroupByEntityShard" >> beam.GroupByKey()
            | "Fold" >> beam.ParDo(_FoldShard(self.kind, self.tx_shards, self.as_of, self.features))
        )
        return folded


DATASET_KEYS = ["transaction_id", "timestamp", "customer_id", "terminal_id"]


def _aligned(part: pd.DataFrame, ids: pd.Series) -> pd.DataFrame:
    """``part``'s rows (without transaction_id) in the order of ``ids``: KeyError if one is
    missing, as ``.loc``. A hash lookup in Arrow when every id is there exactly once."""
    keys = part["transaction_id"] if "transaction_id" in part.columns else pd.Series([])
    if len(keys) == len(ids):  # then all found + same size = each exactly once (ids unique)
        index = pc.index_in(pa.array(ids), value_set=pa.array(keys))
        if index.null_count == 0:
            rows = part.drop(columns="transaction_id").take(index.to_numpy())
            return rows.reset_index(drop=True)
    return part.set_index("transaction_id").loc[ids].reset_index(drop=True)


def _assemble(
    element: tuple[int, dict[str, list[pd.DataFrame]]],
) -> Iterator[tuple[int, pd.DataFrame]]:
    shard, groups = element
    txs = _concat(groups["tx"])
    if txs.empty:
        return
    tx_part = part_columns("transaction", TxColumns.from_frame(txs), None)
    ids = txs["transaction_id"]
    features = pd.concat(
        [
            tx_part,
            _aligned(_concat(groups["customer"]), ids),
            _aligned(_concat(groups["terminal"]), ids),
        ],
        axis=1,
    )[list(FEATURE_NAMES)]
    extra = [c for c in ("is_fraud", "label_known", "fraud_scenario") if c in txs.columns]
    out = pd.concat(
        [txs[DATASET_KEYS].reset_index(drop=True), features, txs[extra].reset_index(drop=True)],
        axis=1,
    )
    yield shard, out


class AssembleRows(beam.PTransform[dict[str, PCollection[Any]], PCollection[Any]]):
    """Join the transaction, customer and terminal parts of each row, in contract order."""

    def expand(self, parts: dict[str, PCollection[Any]]) -> PCollection[Any]:
        rows: PCollection[Any] = (
            parts | "Join" >> beam.CoGroupByKey() | "Assemble" >> beam.FlatMap(_assemble)
        )
        return rows
