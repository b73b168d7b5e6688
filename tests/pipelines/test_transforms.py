"""Each composite transform on the real Beam DirectRunner (TestPipeline + assert_that)."""

from __future__ import annotations

from pathlib import Path

import apache_beam as beam
import numpy as np
import pandas as pd
from apache_beam.testing.test_pipeline import TestPipeline
from apache_beam.testing.util import assert_that, equal_to

from beam_pipelines.io import DEAD_LETTER, ReadHistory, ReadLabels
from beam_pipelines.sharding import split_frame
from beam_pipelines.transforms import AssembleRows, FoldEntities, ReconcileByTransaction
from fraudops.features import FEATURE_NAMES
from fraudops.features.offline import fixed_delay_labels, point_in_time_features
from fraudops.readers import validate_history


def rows_of(frames: list[pd.DataFrame]) -> pd.DataFrame:
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()


def test_read_history_sends_bad_rows_to_the_dead_letter(tmp_path: Path) -> None:
    path = tmp_path / "h.csv"
    path.write_text(
        "transaction_id,timestamp,customer_id,terminal_id,amount\n"
        "1,2018-04-01T00:00:00Z,c1,t1,10.5\n"
        "2,2018-04-01T00:01:00Z,c1,t1,-3\n"
        "3,not-a-time,c2,t1,4\n"
        "4,2018-04-01T00:03:00Z,c2,t2,7\n"
    )
    with TestPipeline() as p:
        out = p | ReadHistory(str(path), chunk_rows=2)
        ids = out.rows | beam.FlatMap(lambda f: f["transaction_id"].tolist())
        dead = out[DEAD_LETTER] | beam.Map(lambda r: (int(r["row"]), r["error"]))
        assert_that(ids, equal_to(["1", "4"]), label="good")
        assert_that(
            dead,
            equal_to(
                [
                    (2, "amount: must be >= 0"),
                    (3, "timestamp: not an RFC 3339 / ISO 8601 timestamp"),
                ]
            ),
            label="dead",
        )


def test_reconcile_dedups_attaches_labels_and_picks_the_target(tmp_path: Path) -> None:
    history = pd.DataFrame(
        {
            "transaction_id": ["a", "b", "a", "c"],
            "timestamp": pd.to_datetime(
                [
                    "2018-04-01T00:00:00Z",
                    "2018-04-01T00:00:05Z",
                    "2018-04-01T00:00:09Z",
                    "2018-04-02T00:00:00Z",
                ]
            ),
            "customer_id": ["c1", "c1", "c9", "c2"],
            "terminal_id": ["t1", "t1", "t1", "t2"],
            "amount": [1.0, 2.0, 3.0, 4.0],
            "is_fraud": [0, 0, 0, 1],
        }
    )
    labels_path = tmp_path / "labels.csv"
    labels_path.write_text(
        "transaction_id,label,arrived_at\n"
        "b,fraud,2018-04-01T00:10:00Z\n"
        "b,legit,2018-04-01T00:20:00Z\n"
        "zz,fraud,2018-04-01T00:30:00Z\n"
        "a,fraud,2018-05-01T00:00:00Z\n"
    )
    cutoff = int(pd.Timestamp("2018-04-15T00:00:00Z").timestamp())
    # the duplicate id sits in another chunk (another file, say): per-chunk validation can't see it
    first, _ = validate_history(history.iloc[:2])
    second, _ = validate_history(history.iloc[2:])
    with TestPipeline() as p:
        inputs = {
            "history": p | "H" >> beam.Create([first, second]),
            "labels": (p | ReadLabels(str(labels_path))).rows,
        }
        rec = inputs | ReconcileByTransaction(shards=3, label_delay_days=None, label_cutoff=cutoff)
        targets = rec.transactions | beam.FlatMap(
            lambda f: list(
                zip(f["transaction_id"], f["is_fraud"].astype(int), f["customer_id"], strict=True)
            )
        )
        labels = rec.labels | beam.FlatMap(
            lambda f: list(zip(f["transaction_id"], f["is_fraud"].astype(int), strict=True))
        )
        dead = rec[DEAD_LETTER] | beam.Map(lambda r: (r["transaction_id"], r["error"]))
        # 'a' kept once (the earlier row, customer c1); its label arrived after the cut-off
        assert_that(targets, equal_to([("a", 0, "c1"), ("b", 0, "c1"), ("c", 1, "c2")]), label="t")
        assert_that(labels, equal_to([("b", 1), ("b", 0)]), label="l")
        assert_that(
            dead, equal_to([("a", "duplicate id"), ("zz", "unknown transaction")]), label="d"
        )


def test_fold_and_assemble_equal_the_core_offline_fold(small_history: pd.DataFrame) -> None:
    history = small_history.head(4000)
    expected = point_in_time_features(history, fixed_delay_labels(history, 7)).set_index(
        "transaction_id"
    )

    def check(frames: list[tuple[int, pd.DataFrame]]) -> None:
        got = rows_of([f for _, f in frames]).set_index("transaction_id")
        assert sorted(got.index) == sorted(expected.index)
        got = got.loc[expected.index]
        for name in FEATURE_NAMES:
            a, b = got[name].to_numpy(), expected[name].to_numpy()
            if a.dtype.kind in "fi":
                assert np.array_equal(a.astype(float), b.astype(float)), name
            else:
                assert list(a) == list(b), name

    with TestPipeline() as p:
        chunks = [history.iloc[i : i + 900] for i in range(0, len(history), 900)]
        rec = {"history": p | "H" >> beam.Create(chunks), "labels": p | "L" >> beam.Create([])} | (
            ReconcileByTransaction(shards=4, label_delay_days=7)
        )
        parts = {
            kind: (rec.transactions, rec.labels) | f"Fold{kind}" >> FoldEntities(kind, 3, 4)
            for kind in ("customer", "terminal")
        }
        keyed = rec.transactions | beam.FlatMap(split_frame, "transaction_id", 4)
        rows = {"tx": keyed, **parts} | AssembleRows()
        assert_that(rows, check)
