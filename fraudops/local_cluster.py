"""A real local Redis Cluster for tests and ``fraudops bench cluster``:
``scripts/redis_cluster.sh`` (the script users run too) on a free block of loopback ports."""

from __future__ import annotations

import os
import random
import socket
import subprocess
import tempfile
import time
from pathlib import Path

import redis

SCRIPT = Path(__file__).resolve().parents[1] / "scripts" / "redis_cluster.sh"


def _free_block(n: int) -> int:
    """The first of ``n`` consecutive free loopback ports (and their cluster-bus ports +10000)."""
    for _ in range(200):
        base = random.randrange(20_000, 40_000)
        ports = [p for q in range(base, base + n) for p in (q, q + 10_000)]
        try:
            for p in ports:
                with socket.socket() as s:
                    s.bind(("127.0.0.1", p))
        except OSError:
            continue
        return base
    raise RuntimeError(f"no block of {n} free ports")


class LocalCluster:
    """``masters`` masters with ``replicas`` replicas each, short node timeout (fast failover)."""

    def __init__(self, masters: int = 3, replicas: int = 1, node_timeout_ms: int = 2000) -> None:
        self.size = masters * (replicas + 1)
        self.port = _free_block(self.size)
        self.dir = Path(tempfile.mkdtemp(prefix="fraudops-cluster-"))
        self.env = {
            **os.environ,
            "CLUSTER_PORT": str(self.port),
            "CLUSTER_MASTERS": str(masters),
            "CLUSTER_REPLICAS": str(replicas),
            "CLUSTER_NODE_TIMEOUT_MS": str(node_timeout_ms),
            "CLUSTER_DIR": str(self.dir),
        }
        self._script("start")

    def _script(self, command: str) -> str:
        r = subprocess.run(["bash", str(SCRIPT), command], env=self.env, capture_output=True,
                           text=True, timeout=120)  # fmt: skip
        if r.returncode != 0:
            raise RuntimeError(f"redis_cluster.sh {command}: {r.stderr.strip()}")
        return r.stdout

    @property
    def ports(self) -> list[int]:
        return list(range(self.port, self.port + self.size))

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def node(self, port: int) -> redis.Redis:
        return redis.Redis(port=port, socket_timeout=2, decode_responses=True)

    def masters(self) -> dict[int, list[tuple[int, int]]]:
        """{port: slot ranges} of the live masters, as the cluster sees them now."""
        for port in self.ports:
            try:
                shards = self.node(port).execute_command("CLUSTER", "SLOTS")
            except redis.RedisError:
                continue
            out: dict[int, list[tuple[int, int]]] = {}
            for start, end, master, *_replicas in shards:
                out.setdefault(int(master[1]), []).append((int(start), int(end)))
            return out
        raise RuntimeError("no node of the cluster answers")

    def owner(self, slot: int) -> int:
        """The port of the master serving ``slot``."""
        return next(
            p for p, ranges in self.masters().items() if any(a <= slot <= b for a, b in ranges)
        )

    def migrate_slot(self, slot: int, to: int, pause_s: float = 0.0) -> int:
        """Move ``slot`` to the master on port ``to`` as ``redis-cli --cluster reshard`` does
        (IMPORTING, MIGRATING, MIGRATE ten keys at a time, SETSLOT NODE everywhere), then
        holding the slot half-moved ``pause_s`` (its keys at the target, new keys asked for
        there: clients meet ASK) before the final SETSLOT (then MOVED). Returns keys moved."""
        source = self.owner(slot)
        src, dst = self.node(source), self.node(to)
        src_id, dst_id = (
            src.execute_command("CLUSTER", "MYID"),
            dst.execute_command("CLUSTER", "MYID"),
        )
        dst.execute_command("CLUSTER", "SETSLOT", slot, "IMPORTING", src_id)
        src.execute_command("CLUSTER", "SETSLOT", slot, "MIGRATING", dst_id)
        moved = 0
        while keys := src.execute_command("CLUSTER", "GETKEYSINSLOT", slot, 10):
            src.execute_command("MIGRATE", "127.0.0.1", to, "", 0, 5000, "KEYS", *keys)
            moved += len(keys)
        time.sleep(pause_s)
        others = [p for p in self.masters() if p not in (to, source)]
        for port in [to, source, *others]:  # the target first, as redis-cli does
            self.node(port).execute_command("CLUSTER", "SETSLOT", slot, "NODE", dst_id)
        return moved

    def pid(self, port: int) -> int:
        return int((self.dir / str(port) / "redis.pid").read_text())

    def kill(self, port: int) -> None:
        """SIGKILL one node: a crash, nothing flushed, no goodbye to the others."""
        os.kill(self.pid(port), 9)

    def wait_ok(self, timeout_s: float = 30) -> None:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            try:
                live = [p for p in self.ports if _answers(p)]
                if all("cluster_state:ok" in self.node(p).execute_command("CLUSTER", "INFO")
                       for p in live):  # fmt: skip
                    return
            except redis.RedisError:
                pass
            time.sleep(0.05)
        raise TimeoutError("the cluster did not reach cluster_state:ok")

    def wait_replicated(self, timeout_s: float = 10) -> None:
        """Until every replica has all its master wrote (replication is asynchronous: a master
        killed before its replica caught up loses its last writes, as in production)."""
        deadline = time.monotonic() + timeout_s
        for port in self.masters():
            while True:
                info = self.node(port).info("replication")
                offset = info["master_repl_offset"]
                replicas = [v for k, v in info.items() if k.startswith("slave")]
                if replicas and all(int(r["offset"]) >= offset for r in replicas):
                    break
                if time.monotonic() > deadline:
                    raise TimeoutError(f"the replicas of {port} lag: {replicas}")
                time.sleep(0.02)

    def stop(self) -> None:
        self._script("stop")


def _answers(port: int) -> bool:
    try:
        return bool(redis.Redis(port=port, socket_timeout=0.5).ping())
    except redis.RedisError:
        return False
