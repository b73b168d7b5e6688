"""``fraudops bench pipeline``: backfill + dataset build of a simulated Handbook-size history.

Prints transactions/s for each, Redis writes/s, wall times and peak RSS (this process and the
DirectRunner's worker processes). JSON keys: backfill_tx_per_s, dataset_tx_per_s, peak_rss_mb.
"""

from __future__ import annotations

import argparse
import json
import resource
import tempfile
import time
import uuid
from pathlib import Path

from beam_pipelines.backfill import BackfillJob, run_backfill
from beam_pipelines.dataset import DatasetJob, run_dataset
from beam_pipelines.metrics import counters
from beam_pipelines.options import pipeline_options
from fraudops import redis_clients
from fraudops.profile_store.commands import StoreConfig
from fraudops.settings import CoreSettings
from fraudops.simulator import SimulationConfig, simulate


def _peak_rss_mb() -> float:
    own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    children = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    return max(own, children) / 1024


def run(args: argparse.Namespace) -> None:
    cfg = (
        SimulationConfig(customers=500, terminals=1000, days=30)
        if args.quick
        else SimulationConfig()
    )
    settings = CoreSettings()
    url = settings.redis_url
    opts = argparse.Namespace(runner="DirectRunner", direct_workers=args.direct_workers)
    with tempfile.TemporaryDirectory(prefix="fraudops-bench-") as tmp:
        history = Path(tmp) / "history.parquet"
        frame = simulate(cfg)
        frame.to_parquet(history, index=False)
        n = len(frame)
        del frame
        config = StoreConfig(prefix=f"bench{uuid.uuid4().hex[:8]}")
        as_of = int(time.time())
        started = time.perf_counter()
        result = run_backfill(
            BackfillJob(
                history=str(history),
                redis_url=url,
                config=config,
                as_of=as_of,
                redis_cluster=settings.redis_cluster,
            ),
            pipeline_options(opts, []),
        )
        backfill_s = time.perf_counter() - started
        writes = counters(result).get("backfill.redis_commands", 0)
        client = redis_clients.from_settings(settings)
        keys = list(client.scan_iter(match=f"{config.prefix}:*", count=10_000))
        for i in range(0, len(keys), 10_000):
            client.delete(*keys[i : i + 10_000])
        started = time.perf_counter()
        run_dataset(
            DatasetJob(history=str(history), out=Path(tmp) / "ds"), pipeline_options(opts, [])
        )
        dataset_s = time.perf_counter() - started
    out = {
        "transactions": n,
        "backfill_s": round(backfill_s, 1),
        "backfill_tx_per_s": round(n / backfill_s),
        "redis_writes_per_s": round(writes / backfill_s),
        "dataset_s": round(dataset_s, 1),
        "dataset_tx_per_s": round(n / dataset_s),
        "peak_rss_mb": round(_peak_rss_mb()),
    }
    if args.json:
        print(json.dumps(out, indent=2))
    else:
        for key, value in out.items():
            print(f"{key:<22} {value:>12,}")
