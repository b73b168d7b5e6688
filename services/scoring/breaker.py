"""A circuit breaker for the hot path's Redis: after a refusal, answers go degraded at once."""

from __future__ import annotations

import time
from dataclasses import dataclass


@dataclass
class Breaker:
    """Skips Redis for ``cooldown_s`` after it refused a connection or timed out repeatedly.

    A single slow reply under load only degrades its own request; after the cool-down the next
    request tries again and one success closes the breaker.
    """

    cooldown_s: float
    threshold: int = 3
    failures: int = 0
    open_until: float = 0.0

    def allows(self) -> bool:
        return time.monotonic() >= self.open_until

    def failure(self, hard: bool) -> None:
        self.failures += 1
        if hard or self.failures >= self.threshold:
            self.open_until = time.monotonic() + self.cooldown_s

    def success(self) -> None:
        self.failures = 0
