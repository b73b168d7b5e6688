"""Streaming mode: transaction and label messages keep the Redis profiles current, one atomic
update per event (the scoring service's own update), with the features each payment saw.

Source: Pub/Sub in production (``--subscription``), a JSON-lines file locally, TestStream in tests.
Messages are JSON: a canonical transaction (``"type": "transaction"`` optional) or a label
``{"type": "label", transaction_id, customer_id, terminal_id, label: fraud|legit, arrived_at}``.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any

import apache_beam as beam
from apache_beam.metrics.metric import Metrics
from apache_beam.pvalue import PCollection
from apache_beam.transforms import combiners, window
from pydantic import ValidationError

from beam_pipelines.io import DEAD_LETTER
from fraudops.features import FEATURE_NAMES, feature_vector
from fraudops.features.offline import LabelEvent
from fraudops.profile_store.client import ProfileStore
from fraudops.profile_store.commands import StoreConfig
from fraudops.redis_clients import sync_client
from fraudops.schema import Transaction, Txn, parse_timestamp


def _label(msg: dict[str, Any]) -> LabelEvent:
    missing = [k for k in ("transaction_id", "customer_id", "terminal_id", "label", "arrived_at")
               if not msg.get(k)]  # fmt: skip
    if missing:
        raise ValueError(f"label message: missing {', '.join(missing)}")
    if msg["label"] not in ("fraud", "legit"):
        raise ValueError("label message: label must be fraud or legit")
    arrived = int(parse_timestamp(str(msg["arrived_at"])).timestamp())
    return LabelEvent(
        str(msg["transaction_id"]), str(msg["customer_id"]), str(msg["terminal_id"]),
        arrived, msg["label"] == "fraud",
    )  # fmt: skip


# an event dated further ahead of the processing clock is refused: profiles are pruned at an
# event's own time, so one dated next year would wipe its entity's minute and hour buckets
MAX_AHEAD_S = 300.0


class _Parse(beam.DoFn):
    def __init__(self, max_ahead_s: float = MAX_AHEAD_S) -> None:
        self.max_ahead_s = max_ahead_s
        self.bad = Metrics.counter("stream", "messages_invalid")

    def process(self, message: bytes | str) -> Iterator[Any]:
        try:
            msg = json.loads(message)
            if not isinstance(msg, dict):
                raise ValueError("message is not a JSON object")
            kind = msg.pop("type", "transaction")
            if kind == "label":
                label = _label(msg)
                event: Txn | LabelEvent = label
                ts = label.arrival_ts
            elif kind == "transaction":
                event = Transaction.model_validate(msg).to_txn()
                ts = event.ts
            else:
                raise ValueError(f"unknown message type {kind!r}")
            if ts > time.time() + self.max_ahead_s:
                what = "arrived_at" if kind == "label" else "timestamp"
                raise ValueError(f"{what}: more than {self.max_ahead_s:g} s ahead of the clock")
        except ValidationError as exc:
            first = exc.errors()[0]
            field = ".".join(str(p) for p in first["loc"])
            yield self._dead(message, f"{field}: {first['msg']}")
            return
        except ValueError as exc:  # JSONDecodeError included
            yield self._dead(message, str(exc))
            return
        yield window.TimestampedValue(event, ts)

    def _dead(
        self, message: bytes | str, error: str
    ) -> beam.pvalue.TaggedOutput[str, dict[str, str]]:
        self.bad.inc()
        text = message.decode(errors="replace") if isinstance(message, bytes) else message
        return beam.pvalue.TaggedOutput(DEAD_LETTER, {"message": text[:2000], "error": error})


class ParseEvents(beam.PTransform[PCollection[Any], beam.pvalue.DoOutputsTuple]):
    """JSON messages -> Txn / LabelEvent stamped with event time; bad ones to the dead letter."""

    def expand(self, messages: PCollection[Any]) -> beam.pvalue.DoOutputsTuple:
        parsed: beam.pvalue.DoOutputsTuple = messages | "Parse" >> beam.ParDo(
            _Parse()
        ).with_outputs(DEAD_LETTER, main="events")
        return parsed


class _Apply(beam.DoFn):
    def __init__(self, redis_url: str, config: StoreConfig, cluster: bool = False) -> None:
        self.redis_url, self.config, self.cluster = redis_url, config, cluster
        self.store: ProfileStore | None = None
        self.applied = Metrics.counter("stream", "transactions_applied")
        self.duplicates = Metrics.counter("stream", "transactions_duplicate")
        self.labels = Metrics.counter("stream", "labels_applied")

    def setup(self) -> None:
        self.store = ProfileStore(
            sync_client(self.redis_url, self.cluster, socket_timeout=5), self.config
        )

    def teardown(self) -> None:
        if self.store is not None:
            self.store.redis.close()

    def process(self, event: Txn | LabelEvent) -> Iterator[dict[str, Any]]:
        assert self.store is not None
        if isinstance(event, LabelEvent):
            self.store.apply_label(event.transaction_id, event.customer_id, event.terminal_id,
                                   event.arrival_ts, event.is_fraud)  # fmt: skip
            self.labels.inc()
            return
        profiles = self.store.apply_transaction(event)
        if not profiles.applied:
            self.duplicates.inc()
            return
        self.applied.inc()
        vector = feature_vector(event, profiles.customer, profiles.terminal)
        yield {
            "transaction_id": event.transaction_id,
            **dict(zip(FEATURE_NAMES, vector, strict=True)),
        }


class ApplyToProfileStore(beam.PTransform[PCollection[Any], PCollection[Any]]):
    """Each event through the store's atomic update; emits the features each payment saw."""

    def __init__(self, redis_url: str, config: StoreConfig, cluster: bool = False) -> None:
        super().__init__()
        self.redis_url, self.config, self.cluster = redis_url, config, cluster

    def expand(self, events: PCollection[Any]) -> PCollection[Any]:
        features: PCollection[Any] = events | "Apply" >> beam.ParDo(
            _Apply(self.redis_url, self.config, self.cluster)
        )
        return features


class CountPerWindow(beam.PTransform[PCollection[Any], PCollection[Any]]):
    """Events per fixed event-time window: (window start epoch s, count), for monitoring."""

    def __init__(self, seconds: int = 60) -> None:
        super().__init__()
        self.seconds = seconds

    def expand(self, events: PCollection[Any]) -> PCollection[Any]:
        def with_start(count: int, win: Any = beam.DoFn.WindowParam) -> tuple[int, int]:
            return int(win.start), count

        counts: PCollection[Any] = (
            events
            | "Window" >> beam.WindowInto(window.FixedWindows(self.seconds))
            | "Count" >> beam.CombineGlobally(combiners.CountCombineFn()).without_defaults()
            | "WithStart" >> beam.Map(with_start)
        )
        return counts


def build_streaming_pipeline(
    messages: PCollection[Any],
    redis_url: str,
    config: StoreConfig,
    window_s: int = 60,
    cluster: bool = False,
) -> dict[str, PCollection[Any]]:
    """``cluster``: ``redis_url`` names a node of a Redis Cluster."""
    parsed = messages | "ParseEvents" >> ParseEvents()
    store = ApplyToProfileStore(redis_url, config, cluster)
    features = parsed.events | "ApplyToProfileStore" >> store
    counts = parsed.events | "CountPerWindow" >> CountPerWindow(window_s)
    return {"features": features, "counts": counts, "dead_letter": parsed[DEAD_LETTER]}
