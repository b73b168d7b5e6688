"""What a demo run is asked for (``fraudops demo`` options)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


@dataclass
class DemoConfig:
    workdir: Path
    customers: int = 1000
    terminals: int = 2000
    history_days: int = 90
    replay_days: int = 7
    seed: int = 0
    concurrency: int = 4
    answer_rate: float = 0.9
    keep_running: bool = False
