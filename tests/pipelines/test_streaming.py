"""Streaming with TestStream: event time, windows, dead letters, Redis kept current."""

from __future__ import annotations

import json

import apache_beam as beam
import pandas as pd
import redis
from apache_beam.options.pipeline_options import PipelineOptions, StandardOptions
from apache_beam.testing.test_pipeline import TestPipeline
from apache_beam.testing.test_stream import TestStream
from apache_beam.testing.util import assert_that, equal_to

from beam_pipelines.streaming import build_streaming_pipeline
from fraudops.features import feature_vector
from fraudops.features.offline import LabelEvent, fold_entities
from fraudops.profile_store.client import ProfileStore
from fraudops.profile_store.commands import StoreConfig
from fraudops.readers import iter_txns
from fraudops.schema import Txn
from tests.conftest import TEST_REDIS_URL


def tx_message(tx: Txn) -> bytes:
    return json.dumps(
        {
            "transaction_id": tx.transaction_id,
            "timestamp": pd.Timestamp(tx.ts, unit="s", tz="UTC").isoformat(),
            "customer_id": tx.customer_id,
            "terminal_id": tx.terminal_id,
            "amount": tx.amount,
            **{
                k: v
                for k, v in (("mcc", tx.mcc), ("country", tx.country), ("channel", tx.channel))
                if v
            },
        }
    ).encode()


FAR = "2126-01-01T00:00:00Z"  # next century: would prune the profiles at its own time


def test_stream_keeps_profiles_current(
    redis_client: redis.Redis, store_config: StoreConfig, small_history: pd.DataFrame
) -> None:
    txns = list(iter_txns(small_history.head(300)))
    frauds = [t for t, f in zip(txns, small_history["is_fraud"].head(300), strict=True) if f][:5]
    labels = [
        LabelEvent(t.transaction_id, t.customer_id, t.terminal_id, t.ts + 60, True) for t in frauds
    ]
    start = txns[0].ts
    stream = TestStream()
    expected_counts: dict[int, int] = {}
    events: list[tuple[int, bytes]] = [(t.ts, tx_message(t)) for t in txns]
    events += [
        (
            e.arrival_ts,
            json.dumps(
                {
                    "type": "label",
                    "transaction_id": e.transaction_id,
                    "customer_id": e.customer_id,
                    "terminal_id": e.terminal_id,
                    "label": "fraud",
                    "arrived_at": pd.Timestamp(e.arrival_ts, unit="s", tz="UTC").isoformat(),
                }
            ).encode(),
        )
        for e in labels
    ]
    events.sort()
    bad = [
        b'{"transaction_id": "x", "amount": -1}',
        b"not json",
        b'{"type": "label", "label": "maybe"}',
        json.dumps({**json.loads(events[0][1]), "transaction_id": "x2", "timestamp": FAR}).encode(),
        b'{"type": "label", "transaction_id": "x", "customer_id": "c", "terminal_id": "t", '
        b'"label": "fraud", "arrived_at": "%s"}' % FAR.encode(),
    ]
    for i, (ts, msg) in enumerate(events):
        stream = stream.add_elements([beam.window.TimestampedValue(msg, ts)])
        expected_counts[ts // 60 * 60] = expected_counts.get(ts // 60 * 60, 0) + 1
        if i % 50 == 0:
            stream = stream.advance_watermark_to(ts)
    stream = stream.add_elements([beam.window.TimestampedValue(m, start) for m in bad])
    stream = stream.advance_watermark_to_infinity()

    options = PipelineOptions()
    options.view_as(StandardOptions).streaming = True
    with TestPipeline(options=options) as p:
        out = build_streaming_pipeline(p | stream, TEST_REDIS_URL, store_config, window_s=60)
        assert_that(out["counts"], equal_to(sorted(expected_counts.items())), label="counts")
        assert_that(
            out["features"] | beam.Map(lambda f: f["transaction_id"]),
            equal_to([t.transaction_id for t in txns]),
            label="features",
        )
        assert_that(
            out["dead_letter"] | beam.Map(lambda r: r["error"].split(":")[0]),
            equal_to(["timestamp", "Expecting value", "label message", "timestamp", "arrived_at"]),
            label="dead",
        )

    # Redis now holds what the offline fold computes from the same events: probe it with a
    # payment after all of them (features do not depend on the order pruning ran in)
    _, customers = fold_entities("customer", [*txns, *labels])
    _, terminals = fold_entities("terminal", [*txns, *labels])
    store = ProfileStore(redis_client, store_config)
    last = max(t.ts for t in txns) + 30
    for cid, tid in {(t.customer_id, t.terminal_id) for t in txns}:
        probe = Txn("probe", last, cid, tid, 12.0, mcc="5411")
        online = feature_vector(probe, *store.read(cid, tid))
        offline = feature_vector(probe, customers[cid].state, terminals[tid].state)
        assert online == offline, (cid, tid)
