"""A background thread that repeats a turn of work until stopped; a failing turn (a dependency
away) is logged and retried after ``pause_s``, never the end of the thread. ``poke`` starts the
next turn at once (new work queued in this process) instead of after the pause."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable


class Worker:
    def __init__(self, name: str, turn: Callable[[], object], pause_s: float,
                 log: logging.Logger) -> None:  # fmt: skip
        self.turn, self.pause_s, self.log = turn, pause_s, log
        self.stopping, self._wake = threading.Event(), threading.Event()
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)

    def start(self) -> None:
        self._thread.start()

    def poke(self) -> None:
        self._wake.set()

    def stop(self, timeout_s: float = 15.0) -> None:
        self.stopping.set()
        self._wake.set()
        self._thread.join(timeout=timeout_s)

    def _run(self) -> None:
        while not self.stopping.is_set():
            pause = self.pause_s
            try:
                self.turn()
            except Exception as exc:
                self.log.warning("%s: %s: %s", self._thread.name, type(exc).__name__, exc)
                pause = max(pause, 1.0)  # a dependency away: do not spin
            self._wake.wait(pause)
            self._wake.clear()
