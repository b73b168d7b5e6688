"""The backfill and the dataset build on Beam's DaskRunner: a dask scheduler and 2 worker processes
started here (separate processes, as on a cluster), the same dataset content hash and the same
Redis profiles as the DirectRunner's. One small case runs by default; the ~50k-transaction one
(with a label file) and the refusal are ``extended`` (``make test-dask`` runs them all)."""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
import redis

from beam_pipelines.backfill import BackfillJob, run_backfill
from beam_pipelines.dask_cluster import LocalDaskCluster
from beam_pipelines.dataset import DatasetJob, run_dataset
from beam_pipelines.options import pipeline_options
from fraudops.invalid_rows import InvalidPolicy, InvalidRowsRefused
from fraudops.profile_store.commands import StoreConfig
from fraudops.simulator import SimulationConfig, simulate
from services.feedback import store
from services.feedback.db import make_engine, session_factory, upgrade
from tests.cli import run_cli
from tests.conftest import TEST_REDIS_URL
from tests.feedback.test_next_dataset import scored_row
from tests.pipelines.test_parity import realistic_labels

pytestmark = [pytest.mark.integration, pytest.mark.slow, pytest.mark.dask]

AS_OF = 1_525_000_000  # 2018-04-29: part of each history is before, part after


@pytest.fixture(scope="module")
def cluster() -> Iterator[LocalDaskCluster]:
    """``dask scheduler`` + ``dask worker --nworkers 2`` processes, stopped after the module."""
    with LocalDaskCluster(workers=2) as c:
        yield c


def dask_options(cluster: LocalDaskCluster) -> Any:
    args = argparse.Namespace(runner="dask", dask_scheduler=cluster.address, dask_workers=2)
    return pipeline_options(args, [], cluster.address, 2)


def direct_options() -> Any:
    return pipeline_options(argparse.Namespace(runner="DirectRunner", direct_workers=1), [])


def profiles(client: redis.Redis, prefix: str) -> dict[str, Any]:
    """Every key the backfill wrote (hashes, label and dedup markers), without the prefix."""
    out: dict[str, Any] = {}
    for key in client.scan_iter(match=f"{prefix}:*", count=10_000):
        name = key.decode().split(":", 1)[1]
        out[name] = client.hgetall(key) if client.type(key) == b"hash" else client.get(key)
    return out


def same_as_direct(
    cluster: LocalDaskCluster,
    client: redis.Redis,
    store_config: StoreConfig,
    tmp: Path,
    history: Path,
    labels: Path | None = None,
) -> None:
    """Backfill and dataset build on both runners: equal profiles and content hashes."""
    written = {}
    for name, options in (("direct", direct_options()), ("dask", dask_options(cluster))):
        config = StoreConfig(prefix=f"{store_config.prefix}{name}")
        job = BackfillJob(str(history), TEST_REDIS_URL, config, AS_OF,
                          labels=str(labels) if labels else None)  # fmt: skip
        counts = run_backfill(job, options)
        assert counts["history.rows_read"] == len(pd.read_parquet(history))
        assert counts["backfill.customer_profiles_written"] > 0
        written[name] = profiles(client, config.prefix)
        for key in client.scan_iter(match=f"{config.prefix}:*", count=10_000):
            client.delete(key)
    assert written["dask"] == written["direct"]
    assert any(k.startswith("c:") for k in written["dask"])  # customer hashes among them
    hashes = {}
    for name, options in (("direct", direct_options()), ("dask", dask_options(cluster))):
        ds = DatasetJob(str(history), tmp / name, labels=str(labels) if labels else None)
        _, manifest, _ = run_dataset(ds, options)
        hashes[name] = manifest["content_hash"]
        assert manifest["rows"] == len(pd.read_parquet(history))
    assert hashes["dask"] == hashes["direct"]
    staged = [p.name for p in (tmp / "dask").rglob("*") if ".tmp-" in p.name or p.suffix == ".json"]
    assert all(n == "manifest.json" for n in staged)  # no temp part or outcome file left


def test_small_history_on_dask_equals_direct(
    cluster: LocalDaskCluster,
    redis_client: redis.Redis,
    store_config: StoreConfig,
    tmp_path: Path,
) -> None:
    history = tmp_path / "h.parquet"
    simulate(SimulationConfig(customers=60, terminals=120, days=30, seed=3)).to_parquet(history)
    same_as_direct(cluster, redis_client, store_config, tmp_path, history)


@pytest.mark.extended
def test_refused_input_writes_nothing_on_dask(
    cluster: LocalDaskCluster,
    redis_client: redis.Redis,
    store_config: StoreConfig,
    tmp_path: Path,
) -> None:
    """The verdict is joined to every shard's writes: no side input, so it holds on dask too."""
    frame = simulate(SimulationConfig(customers=30, terminals=60, days=10, seed=4))
    frame.loc[frame.index[:5], "amount"] = -1.0
    history = tmp_path / "bad.parquet"
    frame.to_parquet(history)
    job = BackfillJob(str(history), TEST_REDIS_URL, store_config, AS_OF,
                      invalid=InvalidPolicy("refuse"))  # fmt: skip
    with pytest.raises(InvalidRowsRefused, match="5 of"):
        run_backfill(job, dask_options(cluster))
    assert not list(redis_client.scan_iter(match=f"{store_config.prefix}:*"))


@pytest.mark.extended
@pytest.mark.timeout(1800)
def test_50k_history_with_labels_on_dask_equals_direct(
    cluster: LocalDaskCluster,
    redis_client: redis.Redis,
    store_config: StoreConfig,
    tmp_path: Path,
) -> None:
    frame = simulate(SimulationConfig(customers=600, terminals=1200, days=40, seed=5))
    assert 40_000 <= len(frame) <= 60_000
    history, labels = tmp_path / "h.parquet", tmp_path / "labels.parquet"
    frame.to_parquet(history)
    realistic_labels(frame, seed=5).to_parquet(labels)
    same_as_direct(cluster, redis_client, store_config, tmp_path, history, labels)


@pytest.mark.extended
@pytest.mark.timeout(1200)
def test_next_version_build_on_dask_equals_direct(tmp_path: Path) -> None:
    """``dataset build --feedback --runner dask`` (the CLI's own local cluster, separate
    processes, stopped after): the N+1 version of the DirectRunner, hash for hash."""
    history = simulate(SimulationConfig(customers=60, terminals=120, days=20, seed=3))
    split = history["timestamp"].min() + pd.Timedelta(days=15)
    past, live = history[history.timestamp < split], history[history.timestamp >= split]
    past.to_parquet(tmp_path / "history.parquet", index=False)
    db = f"sqlite:///{tmp_path}/feedback.db"
    engine = make_engine(db)
    upgrade(engine)
    with session_factory(engine).begin() as s:
        store.insert_scored(s, [scored_row(tx) for tx in live.itertuples()])
        t0 = live.timestamp.max().to_pydatetime()
        for i, tx in enumerate(live[live.is_fraud == 1].transaction_id):
            store.record_label(s, tx, "fraud", "chargeback", "cb", t0 + timedelta(minutes=i))
    engine.dispose()
    cutoff = (t0 + timedelta(days=1)).isoformat()
    built = {}
    for runner in ("DirectRunner", "dask"):
        out = tmp_path / runner
        r = run_cli("dataset", "build", "--history", str(tmp_path / "history.parquet"),
                    "--out", str(out), "--runner", runner)  # fmt: skip
        assert r.returncode == 0, r.stderr[-3000:]
        r = run_cli("dataset", "build", "--feedback", "--database-url", db, "--out", str(out),
                    "--label-cutoff", cutoff, "--runner", runner, "--json")  # fmt: skip
        assert r.returncode == 0, r.stderr[-3000:]
        built[runner] = json.loads(r.stdout[: r.stdout.rindex("}") + 1])
    assert built["dask"]["parent"] == "v1" and built["dask"]["rows"] == len(history)
    assert built["dask"]["content_hash"] == built["DirectRunner"]["content_hash"]


def test_cli_names_a_bad_scheduler_address() -> None:
    r = subprocess.run(
        [sys.executable, "-m", "fraudops.cli", "backfill", "--history", "h.parquet",
         "--runner", "dask", "--dask-scheduler", "localhost:8786"],
        capture_output=True, text=True, timeout=120, env=dict(os.environ),
    )  # fmt: skip
    assert r.returncode == 2
    assert "--dask-scheduler" in r.stderr and "tcp://HOST:PORT" in r.stderr
