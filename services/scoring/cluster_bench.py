"""``fraudops bench cluster``: the scoring service on its own 3-master/3-replica Redis Cluster
against the same service on one Redis, then a master SIGKILLed under a fixed rate.

The bench profiles go into both (``benchmark.load_profiles``), one server per store runs with
the bench model, wrk drives them flat out in turns (single, cluster, single, ...: the machine's
other load hits both alike), then the cluster server gets a fixed rate while a prober sends a
payment every ~10 ms and a master (not the one holding the scoring log) is killed a third of the
way in. ``failover_s`` runs from the prober's first degraded answer to its first normal one
after it. ``lost_log_entries``: answered payments missing from the scoring log (the prober's by
transaction id; wrk's by count, as wrk cannot see ids); ``doubled_log_entries`` the converse.
Redis CPU per payment comes from the masters' ``INFO commandstats`` before the kill, scoring CPU
per payment from the server's processes.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import redis
from redis.cluster import RedisCluster

from fraudops.local_cluster import LocalCluster
from fraudops.profile_store.commands import StoreConfig
from fraudops.profile_store.layout import answer_key, dedup_key, entity_key
from fraudops.settings import CoreSettings
from services.common import scoring_log
from services.scoring.benchmark import (
    drop_keys,
    load_profiles,
    scoring_log_size,
    serve,
    train_model,
    wrk,
)

PROBE_EVERY_S = 0.01
FLAT_OUT_CONNECTIONS = 16


class Prober(threading.Thread):
    """A payment every ~10 ms, one at a time, from ``customers`` at ``terminals`` (ids whose
    profiles the master to be killed holds: each probe feels the kill): (sent at, status,
    degraded, transaction id)."""

    def __init__(self, base: str, key: str, customers: list[str], terminals: list[str]) -> None:
        super().__init__(daemon=True)
        self.base, self.key = base, key
        self.customers, self.terminals = customers, terminals
        self.results: list[tuple[float, int, bool, str]] = []
        self.stopping = threading.Event()

    def run(self) -> None:
        headers = {"Authorization": f"Bearer {self.key}"}
        with httpx.Client(base_url=self.base, headers=headers, timeout=5) as client:
            i = 0
            while not self.stopping.is_set():
                i += 1
                sent = time.monotonic()
                tid = f"p-{uuid.uuid4().hex[:12]}"
                body = {
                    "transaction_id": tid,
                    "timestamp": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
                    "customer_id": self.customers[i % len(self.customers)],
                    "terminal_id": self.terminals[i * 7 % len(self.terminals)],
                    "amount": f"{10 + i % 500}.{i % 100:02d}",
                    "currency": "EUR",
                    "mcc": "5411",
                    "country": "FR",
                    "channel": "ecommerce",
                }
                try:
                    r = client.post("/v1/score", json=body)
                    degraded = r.status_code == 200 and bool(r.json().get("degraded"))
                    self.results.append((sent, r.status_code, degraded, tid))
                except httpx.HTTPError:
                    self.results.append((sent, 0, False, tid))
                time.sleep(max(0.0, PROBE_EVERY_S - (time.monotonic() - sent)))


def held_by(
    client: Any, cluster: LocalCluster, cfg: StoreConfig, kind: str, count: int, port: int
) -> list[str]:
    """Up to 500 of the bench's entities of ``kind`` whose profiles the master on ``port``
    holds."""
    ranges = cluster.masters()[port]
    ids = (f"{kind[0]}{i}" for i in range(count))
    return [
        e
        for e in ids
        if any(a <= client.keyslot(entity_key(cfg.prefix, kind, e)) <= b for a, b in ranges)  # type: ignore[arg-type]
    ][:500]


def failover_s(results: list[tuple[float, int, bool, str]]) -> float | None:
    """First degraded answer to the first normal one after it (None: never degraded)."""
    first = next((i for i, r in enumerate(results) if r[2]), None)
    if first is None:
        return None
    back = next((r for r in results[first:] if r[1] == 200 and not r[2]), None)
    return (back[0] if back else results[-1][0]) - results[first][0]


def cpu_s(pid: int) -> float:
    """User + system CPU seconds of the server and its live worker processes."""
    pids = [pid]
    children = Path(f"/proc/{pid}/task/{pid}/children")
    if children.exists():
        pids += [int(p) for p in children.read_text().split()]
    ticks = 0
    for p in pids:
        try:
            fields = Path(f"/proc/{p}/stat").read_text().rsplit(")", 1)[1].split()
        except FileNotFoundError:
            continue
        ticks += int(fields[11]) + int(fields[12])
    return ticks / os.sysconf("SC_CLK_TCK")


def redis_usec(cluster: LocalCluster) -> dict[str, int]:
    """Summed ``INFO commandstats`` usec and calls per command over the live masters."""
    out: Counter[str] = Counter()
    for port in cluster.masters():
        for name, stat in cluster.node(port).info("commandstats").items():
            out[f"{name}_usec"] += int(stat["usec"])
            out[f"{name}_calls"] += int(stat["calls"])
    return dict(out)


def redis_cpu_s(cluster: LocalCluster) -> dict[str, float]:
    """CPU seconds (user + system, ``INFO cpu``) of the masters and of the replicas."""
    masters = set(cluster.masters())
    out = {"masters": 0.0, "replicas": 0.0}
    for port in cluster.ports:
        cpu = cluster.node(port).info("cpu")
        used = float(cpu["used_cpu_user"]) + float(cpu["used_cpu_sys"])
        out["masters" if port in masters else "replicas"] += used
    return out


def redis_cpu(usec: dict[str, int], paid: int) -> dict[str, Any]:
    """Calls per payment and usec per call of the frequent commands (``INFO commandstats``:
    a script's and a MULTI block's commands count on their own and inside EVALSHA / EXEC)."""
    names = [k[: -len("_usec")] for k in usec if k.endswith("_usec")]
    frequent = [n for n in names if usec[f"{n}_calls"] >= paid // 10]
    return {
        "redis_calls_per_payment": {n[8:]: round(usec[f"{n}_calls"] / paid, 2) for n in frequent},
        "redis_usec_per_call": {
            n[8:]: round(usec[f"{n}_usec"] / usec[f"{n}_calls"], 2) for n in frequent
        },
    }


def memory(client: Any, prefix: str, n: int = 200) -> dict[str, float]:
    """Mean ``MEMORY USAGE`` (all fields) of ``n`` of each kind of key the bench wrote."""
    log_entries = client.xrange(scoring_log.stream_key(prefix), count=n)
    tids = [scoring_log.decode(fields[scoring_log.FIELD]) for _, fields in log_entries]
    kinds = {
        "customer_profile": [entity_key(prefix, "customer", f"c{i}") for i in range(n)],
        "terminal_profile": [entity_key(prefix, "terminal", f"t{i}") for i in range(n)],
        "dedup_marker": [
            dedup_key(prefix, "customer", d["customer_id"], d["transaction_id"]) for d in tids
        ],
        "answer": [answer_key(prefix, d["transaction_id"]) for d in tids],
    }
    out = {}
    for kind, keys in kinds.items():
        sizes = [int(client.memory_usage(k, samples=0) or 0) for k in keys]
        sizes = [s for s in sizes if s]
        out[f"bytes_per_{kind}"] = round(statistics.mean(sizes), 1) if sizes else 0.0
    return out


def log_check(client: Any, prefix: str, probed: list[str], wrk_answered: int) -> dict[str, int]:
    """Lost and doubled scoring-log entries, once the writes behind the answers have landed."""
    key = scoring_log.stream_key(prefix)
    deadline = time.monotonic() + 15
    while client.xlen(key) < wrk_answered + len(probed) and time.monotonic() < deadline:
        time.sleep(0.2)
    seen: Counter[str] = Counter()
    start = "-"
    while batch := client.xrange(key, min=start, count=10_000):
        for _, fields in batch:
            seen[str(json.loads(fields[scoring_log.FIELD])["transaction_id"])] += 1
        last = batch[-1][0].decode()
        ms, seq = last.split("-")
        start = f"{ms}-{int(seq) + 1}"
    logged_wrk = sum(1 for t in seen if not t.startswith("p-"))
    return {
        "log_entries": sum(seen.values()),
        "lost_log_entries": sum(1 for t in probed if t not in seen)
        + max(0, wrk_answered - logged_wrk),
        "doubled_log_entries": sum(c - 1 for c in seen.values() if c > 1),
    }


def answered(r: dict[str, Any]) -> int:
    return int(r["requests"]) - int(r["errors"])


def run(args: argparse.Namespace) -> None:
    if shutil.which("wrk") is None:
        raise SystemExit("fraudops bench cluster needs wrk (Debian: apt-get install wrk)")
    from services.common.auth import new_key

    def say(message: str) -> None:
        if not args.json:
            print(message, file=sys.stderr, flush=True)

    quick = args.quick
    customers, terminals = (5_000, 1_000) if quick else (100_000, 10_000)
    seconds, rounds, fixed_s, rate = (3, 2, 12, 300) if quick else (10, 3, 30, 500)
    single_url = CoreSettings().redis_url
    cfg = StoreConfig(prefix=f"bench{uuid.uuid4().hex[:8]}")
    tmp = Path(tempfile.mkdtemp(prefix="fraudops-bench-cluster-"))
    cluster = LocalCluster(masters=3, replicas=1, node_timeout_ms=2000)
    single = redis.Redis.from_url(single_url)
    sharded = RedisCluster.from_url(cluster.url)
    servers: list[Any] = []
    out: dict[str, Any] = {"customers": customers, "terminals": terminals, "masters": 3}
    try:
        now = int(time.time())
        out["load_profiles_s"] = load_profiles(sharded, cfg, customers, terminals, now)
        out["load_profiles_single_s"] = load_profiles(single, cfg, customers, terminals, now)
        say(f"profiles loaded in {out['load_profiles_s']:.1f} s (cluster)")
        train_model(tmp / "models", quick)
        key, entry = new_key("bench", ["score"])
        env = {"FRAUDOPS_API_KEYS": json.dumps([entry]), "FRAUDOPS_KEY_PREFIX": cfg.prefix,
               "FRAUDOPS_MODEL_DIR": str(tmp / "models")}  # fmt: skip
        port = 8500 + os.getpid() % 200
        one, one_url = serve(port, args.workers, {**env, "REDIS_URL": single_url,
                                                  "REDIS_CLUSTER": "false"})  # fmt: skip
        servers.append(one)
        many, many_url = serve(port + 1, args.workers, {**env, "REDIS_URL": cluster.url,
                                                        "REDIS_CLUSTER": "true"},
                                 args.server_log)  # fmt: skip
        servers.append(many)
        # for wrk's script: the profiles' ids, and which statuses the errors were
        sizes = {"CUSTOMERS": str(customers), "TERMINALS": str(terminals), "COUNT_STATUSES": "1"}
        on_cluster = [wrk(many_url, key, 4, 2, 0, sizes)]  # warm-up
        wrk(one_url, key, 4, 2, 0, sizes)
        for node in cluster.masters():
            cluster.node(node).config_resetstat()
        cpu_before, redis_before = cpu_s(many.pid), redis_cpu_s(cluster)
        flat: dict[str, list[dict[str, Any]]] = {"single": [], "cluster": []}
        for _ in range(rounds):  # interleaved: the machine's other load hits both alike
            for name, base in (("single", one_url), ("cluster", many_url)):
                r = wrk(base, key, FLAT_OUT_CONNECTIONS, seconds, 0, sizes)
                flat[name].append(r)
                say(f"flat out {name:<7} {r['rps']:7.0f}/s p99 {r['p99_ms']:6.2f} ms "
                    f"errors {r['errors']}")  # fmt: skip
        on_cluster += flat["cluster"]
        paid = sum(answered(r) for r in flat["cluster"])
        out["scoring_cpu_ms_per_payment"] = round((cpu_s(many.pid) - cpu_before) * 1e3 / paid, 3)
        redis_after = redis_cpu_s(cluster)
        for role in ("masters", "replicas"):
            used = redis_after[role] - redis_before[role]
            out[f"redis_{role}_cpu_us_per_payment"] = round(used * 1e6 / paid, 1)
        out |= redis_cpu(redis_usec(cluster), paid)
        out["rps_flat_out"] = statistics.median(r["rps"] for r in flat["cluster"])
        out["p99_ms"] = statistics.median(r["p99_ms"] for r in flat["cluster"])
        out["single_node_rps"] = statistics.median(r["rps"] for r in flat["single"])
        out["single_node_p99_ms"] = statistics.median(r["p99_ms"] for r in flat["single"])
        out["cluster_over_single"] = round(out["rps_flat_out"] / out["single_node_rps"], 3)
        out |= memory(sharded, cfg.prefix)
        out |= scoring_log_size(sharded, cfg.prefix)

        # a fixed rate, a master killed a third of the way in (not the scoring log's)
        log_master = cluster.owner(sharded.keyslot(scoring_log.stream_key(cfg.prefix)))
        victim = next(p for p in cluster.masters() if p != log_master)
        cluster.wait_replicated()
        prober = Prober(
            many_url,
            key,
            held_by(sharded, cluster, cfg, "customer", customers, victim),
            held_by(sharded, cluster, cfg, "terminal", terminals, victim),
        )
        fixed: dict[str, Any] = {}
        conns = max(4, round(rate * 0.025))
        load = threading.Thread(
            target=lambda: fixed.update(wrk(many_url, key, conns, fixed_s, 20.0, sizes)),
            daemon=True,
        )
        prober.start()
        load.start()
        time.sleep(fixed_s / 3)
        cluster.kill(victim)
        say(f"master {victim} killed")
        load.join(fixed_s + 30)
        prober.stopping.set()
        prober.join(10)
        on_cluster.append(fixed)
        probes = prober.results
        probed_ok = [t for _, status, _, t in probes if status == 200]
        out |= {
            "fixed_rate_target": rate,
            "fixed_rate_rps": fixed["rps"],
            "fixed_rate_p99_ms": fixed["p99_ms"],
            "payments": sum(r["requests"] for r in on_cluster) + len(probes),
            "errors": sum(r["errors"] for r in on_cluster) + len(probes) - len(probed_ok),
            # 409 "being scored; retry": seen around the kill, cause not found yet (an error)
            "busy_409": sum(r["statuses"].get("409", 0) for r in on_cluster),
            "errors_wrk": dict(sum((Counter(r["error_kinds"]) for r in on_cluster), Counter())),
            "wrk_statuses": dict(sum((Counter(r["statuses"]) for r in on_cluster), Counter())),
            "probe_statuses": dict(Counter(str(p[1]) for p in probes)),
            "probes": len(probes),
            "degraded": sum(1 for p in probes if p[2]),
            "failover_s": failover_s(probes),
        }
        wrk_ok = sum(answered(r) for r in on_cluster)
        out |= log_check(sharded, cfg.prefix, probed_ok, wrk_ok)
    finally:
        for server in servers:
            server.terminate()
            server.wait(30)
        drop_keys(single, cfg.prefix)
        sharded.close()
        cluster.stop()
        shutil.rmtree(tmp, ignore_errors=True)
    if args.json:
        print(json.dumps(out, indent=2))
        return
    for k, v in out.items():
        print(f"{k:<28} {v}")
