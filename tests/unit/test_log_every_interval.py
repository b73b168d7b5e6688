"""A warning that comes with every payment during a Redis outage is logged once per interval,
with the number held back in between, not once per payment."""

from __future__ import annotations

import logging

import pytest

from services.common.logs import EveryInterval


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_one_line_per_interval_with_the_count_held_back(caplog: pytest.LogCaptureFixture) -> None:
    clock = Clock()
    every = EveryInterval(logging.getLogger("t.every"), every_s=10, clock=clock)
    with caplog.at_level(logging.WARNING, logger="t.every"):
        for i in range(5000):  # 5,000 degraded payments of 2 each within 5 s
            clock.now = 1000 + i / 1000
            every.warning("timeout", "degraded (%s) for %d payment(s)", "timeout", 2, count=2)
        every.warning("unavailable", "degraded (%s) for %d payment(s)", "unavailable", 1)
        clock.now = 1010.5
        every.warning("timeout", "degraded (%s) for %d payment(s)", "timeout", 2, count=2)
        every.warning("timeout", "degraded (%s) for %d payment(s)", "timeout", 2, count=2)
    assert [r.getMessage() for r in caplog.records] == [
        "degraded (timeout) for 2 payment(s)",
        "degraded (unavailable) for 1 payment(s)",  # another kind: its own interval
        "degraded (timeout) for 2 payment(s) (and 9998 more in the last 10 s, not logged one "
        "by one)",
    ]
