"""Sinks: dataset Parquet parts (any Beam filesystem) and entity profiles into Redis.

Each sink yields what it did (a part's summary, counts), so it feeds the run's outcome
(:mod:`beam_pipelines.outputs`) and runs on every runner, the DaskRunner included.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import apache_beam as beam
import pandas as pd
from apache_beam.io.filesystems import FileSystems

from beam_pipelines.outputs import count
from fraudops import datasets
from fraudops.profile_store.commands import StoreConfig, raise_errors, replace_state_commands
from fraudops.profile_store.layout import EntityKind, dedup_key, label_key
from fraudops.readers import epoch_seconds
from fraudops.redis_clients import SyncClient, pipeline, sync_client


class WriteDatasetParts(beam.DoFn):
    """(shard, rows) -> ``<staging>/part-<shard>.parquet``; yields the part's manifest summary.

    Written under a temporary name, then renamed: a worker that dies mid-write, or a retried task,
    never leaves half a part."""

    def __init__(self, staging: str) -> None:
        self.staging = staging

    def process(self, element: tuple[int, pd.DataFrame]) -> Iterator[dict[str, Any]]:
        shard, frame = element
        name = f"part-{shard:05d}.parquet"
        frame = frame.sort_values("transaction_id", ignore_index=True)
        final = FileSystems.join(self.staging, name)
        temp = f"{final}.tmp-{uuid.uuid4().hex}"
        with FileSystems.create(temp) as handle:
            frame.to_parquet(handle, index=False)
        FileSystems.rename([temp], [final])
        count("dataset.rows_written", len(frame))
        yield {"file": name, **datasets.part_summary(frame)}


class WriteProfiles(beam.DoFn):
    """Replace each entity's profile hash (MULTI DEL/HSET/EXPIRE) and write its label markers.

    The Redis client lives for the DoFn's lifetime (setup/teardown); writes go in pipelines of
    ``batch`` entities. Replacing whole hashes makes a rerun converge to the same state.
    """

    def __init__(
        self,
        redis_url: str,
        config: StoreConfig,
        kind: EntityKind,
        batch: int = 500,
        cluster: bool = False,
    ) -> None:
        self.redis_url, self.config, self.kind, self.batch = redis_url, config, kind, batch
        self.cluster = cluster
        self.client: SyncClient | None = None

    def setup(self) -> None:
        self.client = sync_client(self.redis_url, self.cluster, socket_timeout=30)
        self.client.ping()

    def teardown(self) -> None:
        if self.client is not None:
            self.client.close()

    def process(
        self, element: tuple[int, list[tuple[str, dict[str, int], dict[str, int]]]]
    ) -> Iterator[tuple[str, int]]:
        _, entities = element
        cfg = self.config
        assert self.client is not None
        sent = 0
        for start in range(0, len(entities), self.batch):
            commands: list[list[Any]] = []
            for entity_id, fields, labels in entities[start : start + self.batch]:
                commands += replace_state_commands(cfg, self.kind, entity_id, fields)
                for tid, value in labels.items():
                    lk = label_key(cfg.prefix, self.kind, entity_id, tid)
                    commands.append(["SET", lk, value, "EX", cfg.label_state_ttl_s])
            sent += len(commands)
            raise_errors(pipeline(self.client, commands))
        yield count("backfill.redis_commands", sent)
        yield count(f"backfill.{self.kind}_profiles_written", len(entities))


class MarkCounted(beam.DoFn):
    """Dedup markers for recent transactions: a replay after the backfill is not counted twice."""

    def __init__(
        self,
        redis_url: str,
        config: StoreConfig,
        since_ts: int,
        until_ts: int,
        cluster: bool = False,
    ) -> None:
        self.redis_url, self.config, self.cluster = redis_url, config, cluster
        self.since_ts, self.until_ts = since_ts, until_ts
        self.client: SyncClient | None = None

    def setup(self) -> None:
        self.client = sync_client(self.redis_url, self.cluster, socket_timeout=30)

    def teardown(self) -> None:
        if self.client is not None:
            self.client.close()

    def process(self, frame: pd.DataFrame) -> Iterator[tuple[str, int]]:
        assert self.client is not None
        cfg = self.config
        ts = epoch_seconds(frame["timestamp"])
        recent = frame.loc[(ts >= self.since_ts) & (ts < self.until_ts)]
        commands: list[list[Any]] = []
        for tid, cid, mid in zip(
            recent["transaction_id"], recent["customer_id"], recent["terminal_id"], strict=True
        ):
            for kind, entity in (("customer", cid), ("terminal", mid)):
                key = dedup_key(cfg.prefix, kind, entity, tid)  # type: ignore[arg-type]
                commands.append(["SET", key, 1, "EX", cfg.dedup_ttl_s])
        raise_errors(pipeline(self.client, commands))
        yield count("backfill.redis_commands", len(commands))
        yield count("backfill.dedup_markers", len(recent))
