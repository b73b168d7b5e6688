"""Where a DaskRunner run's time goes, from the scheduler's task stream (the dashboard's data).

Each finished task reports intervals by action: ``compute`` (the DoFns, groupby splitting),
``transfer`` (shuffle data between workers), ``deserialize`` and ``disk-read``/``disk-write``
(spilling). What the workers' time does not cover is idle: scheduling latency and waiting.
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Iterable
from typing import Any

import distributed

Client: Any = distributed.Client  # untyped; the calls below are checked by the tests
_TOKEN = re.compile(r"-[0-9a-f]{32}$")


def start(address: str) -> tuple[Any, float]:
    """A client on the scheduler with its task-stream plugin on (before the run)."""
    client = Client(address, timeout=30)
    client.get_task_stream(start=0)  # installs the plugin: records from now on
    return client, client.run_on_scheduler(_now)


def _now(dask_scheduler: Any = None) -> float:
    import time

    return time.time()


def _name(key: Any) -> str:
    text = key[0] if isinstance(key, tuple) else str(key)
    return _TOKEN.sub("", str(text))


def breakdown(records: Iterable[dict[str, Any]], wall_s: float, workers: int) -> dict[str, Any]:
    """Seconds by action and the top task kinds by compute time; idle = capacity - busy."""
    actions: dict[str, float] = defaultdict(float)
    kinds: dict[str, float] = defaultdict(float)
    tasks = 0
    for record in records:
        tasks += 1
        for part in record.get("startstops", ()):
            seconds = float(part["stop"]) - float(part["start"])
            actions[part["action"]] += seconds
            if part["action"] == "compute":
                kinds[_name(record["key"])] += seconds
    busy = sum(actions.values())
    top = sorted(kinds.items(), key=lambda kv: -kv[1])[:6]
    return {
        "tasks": tasks,
        "seconds_by_action": {k: round(v, 1) for k, v in sorted(actions.items())},
        "idle_worker_s": round(max(0.0, wall_s * workers - busy), 1),
        "compute_by_task_kind": {k: round(v, 1) for k, v in top},
    }


def collect(client: Any, since: float, wall_s: float, workers: int) -> dict[str, Any]:
    records = client.get_task_stream(start=since)
    return breakdown(records, wall_s, workers)
