"""Core benchmarks: simulator, offline feature fold, profile-store round trips, feature vector.

fraudops bench core [--json] [--quick]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import resource
import statistics
import time
import uuid

from fraudops import redis_clients
from fraudops.features import feature_vector
from fraudops.features.offline import fixed_delay_labels, point_in_time_features
from fraudops.profile_store.aio import AsyncProfileStore
from fraudops.profile_store.client import ProfileStore
from fraudops.profile_store.commands import StoreConfig
from fraudops.readers import iter_txns, validate_history
from fraudops.settings import CoreSettings
from fraudops.simulator import SimulationConfig, simulate


def bench_simulator(quick: bool) -> dict[str, float]:
    cfg = SimulationConfig(extras=False) if not quick else SimulationConfig(customers=1000)
    started = time.perf_counter()
    df = simulate(cfg)
    wall = time.perf_counter() - started
    return {"simulate_rows": len(df), "simulate_s": wall, "simulate_fraud_rate": df.is_fraud.mean()}


def bench_fold(quick: bool) -> dict[str, float]:
    cfg = SimulationConfig(customers=300 if quick else 1000, terminals=2000, days=60)
    history, _ = validate_history(simulate(cfg))
    labels = fixed_delay_labels(history)
    started = time.perf_counter()
    point_in_time_features(history, labels)
    wall = time.perf_counter() - started
    return {"fold_rows": len(history), "fold_tx_per_s": len(history) / wall}


def _store(url: str, cluster: bool) -> tuple[redis_clients.SyncClient, StoreConfig]:
    client = redis_clients.sync_client(url, cluster)
    return client, StoreConfig(prefix=f"bench{uuid.uuid4().hex[:8]}")


def _cleanup(client: redis_clients.SyncClient, cfg: StoreConfig) -> None:
    keys = list(redis_clients.scan_iter(client, f"{cfg.prefix}:*", 5000))
    for i in range(0, len(keys), 5000):
        client.delete(*keys[i : i + 5000])


def bench_store(url: str, quick: bool, cluster: bool = False) -> dict[str, float]:
    cfg_sim = SimulationConfig(customers=500, terminals=1000, days=20)
    history, _ = validate_history(simulate(cfg_sim))
    txns = list(iter_txns(history.head(3000 if quick else 20000)))
    client, cfg = _store(url, cluster)
    store = ProfileStore(client, cfg)
    lat, vec = [], []
    try:
        for tx in txns:
            t0 = time.perf_counter()
            profiles = store.apply_transaction(tx)
            t1 = time.perf_counter()
            feature_vector(tx, profiles.customer, profiles.terminal)
            t2 = time.perf_counter()
            lat.append(t1 - t0)
            vec.append(t2 - t1)
    finally:
        _cleanup(client, cfg)

    async def concurrent() -> float:
        aclient = redis_clients.async_client(url, cluster, max_connections=32)
        astore = AsyncProfileStore(aclient, StoreConfig(prefix=cfg.prefix + "a"))
        sem = asyncio.Semaphore(32)

        async def one(tx: object) -> None:
            async with sem:
                await astore.apply_transaction(tx)  # type: ignore[arg-type]

        started = time.perf_counter()
        await asyncio.gather(*(one(tx) for tx in txns))
        wall = time.perf_counter() - started
        await aclient.aclose()
        return len(txns) / wall

    try:
        async_rate = asyncio.run(concurrent())
    finally:
        _cleanup(client, StoreConfig(prefix=cfg.prefix + "a"))
    q = statistics.quantiles(lat, n=100)
    return {
        "store_apply_p50_ms": statistics.median(lat) * 1e3,
        "store_apply_p99_ms": q[98] * 1e3,
        "store_apply_sync_per_s": len(lat) / sum(lat),
        "store_apply_async32_per_s": async_rate,
        "feature_vector_p50_us": statistics.median(vec) * 1e6,
    }


def run(args: argparse.Namespace) -> None:
    core = CoreSettings()
    results: dict[str, float] = {}
    results |= bench_simulator(args.quick)
    results |= bench_fold(args.quick)
    results |= bench_store(core.redis_url, args.quick, core.redis_cluster)
    results["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    if args.json:
        print(json.dumps(results, indent=2))
        return
    for key, value in results.items():
        print(
            f"{key:<28} {value:>14,.3f}" if isinstance(value, float) else f"{key:<28} {value:>14,}"
        )
