"""The shadow challenger runs in the moments a worker serves no request (its latency cost), but
never holds the answers' writes back past its wait bound."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

import numpy as np
import orjson

from services.scoring.shadow import Activity, Shadow


class Challenger:
    version = "m9"

    def __init__(self) -> None:
        self.calls: list[float] = []

    def probabilities(self, rows: list[list[Any]]) -> np.ndarray:
        self.calls.append(time.monotonic())
        return np.full(len(rows), 0.5)

    def decide(self, score: float, degraded: bool = False) -> str:
        return "review"


def shadow(tmp_path: Path, activity: Activity, wait_s: float) -> tuple[Shadow, Challenger]:
    s = Shadow(tmp_path, max_share=1.0, activity=activity, quiet_wait_s=wait_s)
    model = Challenger()
    s.holder.current = model  # type: ignore[assignment]
    return s, model


def batch(n: int) -> list[tuple[str, bytes, bytes, int]]:
    entry = orjson.dumps({"features": [1.0, 2.0], "degraded": False})
    return [(f"t{i}", b"{}", entry, 0) for i in range(n)]


async def test_waits_for_the_requests_in_flight_to_end(tmp_path: Path) -> None:
    activity = Activity()
    s, model = shadow(tmp_path, activity, wait_s=5.0)
    activity.enter()
    task = asyncio.create_task(s.apply(batch(3)))
    await asyncio.sleep(0.05)
    assert not model.calls and not task.done()  # a request is in flight: no challenger work
    ended = time.monotonic()
    activity.leave()
    out = await asyncio.wait_for(task, 1)
    assert model.calls and model.calls[0] >= ended
    assert all(orjson.loads(e)["shadow"]["model_version"] == "m9" for _, _, e, _ in out)


async def test_a_worker_never_idle_still_gets_its_batch_scored_after_the_bound(
    tmp_path: Path,
) -> None:
    activity = Activity()
    s, model = shadow(tmp_path, activity, wait_s=0.05)
    activity.enter()  # never leaves
    started = time.monotonic()
    out = await asyncio.wait_for(s.apply(batch(20)), 1)
    assert 0.04 <= model.calls[0] - started < 0.5
    assert sum(b'"shadow"' in e for _, _, e, _ in out) == 20
