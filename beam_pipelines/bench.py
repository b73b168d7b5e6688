"""``fraudops bench pipeline``: backfill + dataset build of a simulated Handbook-size history.

Prints transactions/s for each, Redis writes/s, wall times and peak RSS (this process and its
child processes: the DirectRunner's workers, the local dask cluster). JSON keys:
backfill_tx_per_s, dataset_tx_per_s, peak_rss_mb; with ``--runner dask`` also ``workers``, the
DirectRunner's backfill and build of the same history in the same run (``direct``),
``content_hash_equal``, ``profiles_equal`` (every key the backfills wrote) and where the dask
time went (``dask_time``, from the scheduler's task stream).
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import json
import resource
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import pandas as pd
import pyarrow.parquet as pq
from apache_beam.options.pipeline_options import PipelineOptions

from beam_pipelines.backfill import BackfillJob, run_backfill
from beam_pipelines.dataset import DatasetJob, run_dataset
from beam_pipelines.options import is_dask, pipeline_options
from fraudops import redis_clients
from fraudops.profile_store.commands import StoreConfig
from fraudops.settings import CoreSettings
from fraudops.simulator import SimulationConfig, simulate

T = TypeVar("T")


def _peak_rss_mb() -> float:
    own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    children = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    return max(own, children) / 1024


def _timed(fn: Callable[[], T]) -> tuple[T, float]:
    started = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - started


def _history(args: argparse.Namespace, tmp: Path) -> tuple[Path, int, int]:
    """The history file, its size and the backfill's cut-off: just after its last payment, so
    every profile has its buckets and the last days their dedup markers."""
    path = Path(args.history) if getattr(args, "history", None) else tmp / "history.parquet"
    if not getattr(args, "history", None):
        cfg = (
            SimulationConfig(customers=500, terminals=1000, days=30)
            if args.quick
            else SimulationConfig()
        )
        simulate(cfg).to_parquet(path, index=False)
    names = pq.ParquetFile(path).schema_arrow.names
    column = "timestamp" if "timestamp" in names else "TX_DATETIME"
    times = pd.to_datetime(pd.read_parquet(path, columns=[column])[column], utc=True)
    return path, len(times), int(times.max().timestamp()) + 1


@contextlib.contextmanager
def _cluster(args: argparse.Namespace) -> Iterator[tuple[str | None, int]]:
    """The dask scheduler's address (a local cluster unless --dask-scheduler) and its number of
    workers; (None, 0): the DirectRunner."""
    if not is_dask(args):
        yield None, 0
        return
    from beam_pipelines.dask_cluster import LocalDaskCluster, workers_of

    if args.dask_scheduler:
        yield args.dask_scheduler, workers_of(args.dask_scheduler)
    else:
        with LocalDaskCluster(args.dask_workers) as cluster:
            yield cluster.address, args.dask_workers


def _profiles_digest(client: Any, prefix: str) -> str:
    """A digest of every key the backfill wrote (hash fields, marker values), TTLs aside."""
    keys = sorted(client.scan_iter(match=f"{prefix}:*", count=10_000))
    h = hashlib.sha256()
    for i in range(0, len(keys), 5_000):
        batch = keys[i : i + 5_000]
        pipe = client.pipeline(transaction=False)
        for key in batch:
            pipe.type(key)
        kinds = pipe.execute()
        pipe = client.pipeline(transaction=False)
        for key, kind in zip(batch, kinds, strict=True):
            (pipe.hgetall if kind in (b"hash", "hash") else pipe.get)(key)
        for key, value in zip(batch, pipe.execute(), strict=True):
            body = sorted(value.items()) if isinstance(value, dict) else value
            h.update(repr((key[len(prefix) :], body)).encode())
        client.delete(*batch)
    return h.hexdigest()


def _runs(history: Path, as_of: int, out: Path, options: PipelineOptions) -> dict[str, Any]:
    """Backfill (its profiles digested, then removed) and dataset build of ``history``."""
    settings = CoreSettings()
    config = StoreConfig(prefix=f"bench{uuid.uuid4().hex[:8]}")
    job = BackfillJob(history=str(history), redis_url=settings.redis_url, config=config,
                      as_of=as_of, redis_cluster=settings.redis_cluster)  # fmt: skip
    counts, backfill_s = _timed(lambda: run_backfill(job, options))
    digest = _profiles_digest(redis_clients.from_settings(settings), config.prefix)
    built, dataset_s = _timed(lambda: run_dataset(DatasetJob(str(history), out), options))
    return {
        "backfill_s": backfill_s,
        "writes": counts.get("backfill.redis_commands", 0),
        "dataset_s": dataset_s,
        "content_hash": built[1]["content_hash"],
        "profiles": digest,
    }


def _rates(r: dict[str, Any], n: int) -> dict[str, Any]:
    return {
        "backfill_s": round(r["backfill_s"], 1),
        "backfill_tx_per_s": round(n / r["backfill_s"]),
        "redis_writes_per_s": round(r["writes"] / r["backfill_s"]),
        "dataset_s": round(r["dataset_s"], 1),
        "dataset_tx_per_s": round(n / r["dataset_s"]),
    }


def run(args: argparse.Namespace) -> None:
    with tempfile.TemporaryDirectory(prefix="fraudops-bench-") as name:
        tmp = Path(name)
        history, n, as_of = _history(args, tmp)
        with _cluster(args) as (address, workers):
            options = pipeline_options(args, [], address, workers)
            profile: dict[str, Any] = {}
            if address:
                from beam_pipelines import dask_profile

                client, since = dask_profile.start(address)
            r = _runs(history, as_of, tmp / "ds", options)
            if address:  # idle over the pipelines' wall time (not the profile check between)
                wall = r["backfill_s"] + r["dataset_s"]
                profile = dask_profile.collect(client, since, wall, workers)
                client.close()
        out: dict[str, Any] = {
            "runner": "dask" if address else "DirectRunner",
            "transactions": n,
            **_rates(r, n),
        }
        if address:  # the DirectRunner on the same history, in the same run
            direct = argparse.Namespace(runner="DirectRunner", direct_workers=args.direct_workers)
            d = _runs(history, as_of, tmp / "direct", pipeline_options(direct, []))
            out |= {
                "workers": workers,
                "content_hash_equal": d["content_hash"] == r["content_hash"],
                "profiles_equal": d["profiles"] == r["profiles"],
                "direct": _rates(d, n),
                "dask_time": profile,
            }
    out["peak_rss_mb"] = round(_peak_rss_mb())
    if args.json:
        print(json.dumps(out, indent=2))
    else:
        for key, value in out.items():
            print(f"{key:<24} {value:>12,}" if isinstance(value, int | float) else
                  f"{key:<24} {value}")  # fmt: skip
