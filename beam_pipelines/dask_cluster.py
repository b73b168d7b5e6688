"""A local dask.distributed cluster of separate processes: one ``dask scheduler`` and ``dask
worker`` processes, as a real cluster runs them (dask-kubernetes, dask-jobqueue and hosted Dask
start the same commands), stopped when the block ends."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from types import TracebackType
from typing import Any

STARTUP_S = 60.0


def workers_of(address: str) -> int:
    """How many workers the scheduler at ``address`` has (at least 1)."""
    import distributed

    client_class: Any = distributed.Client
    with client_class(address, timeout=STARTUP_S) as client:
        return max(1, len(client.scheduler_info()["workers"]))


class LocalDaskCluster:
    """``with LocalDaskCluster(2) as c: ... c.address`` (tcp://127.0.0.1:PORT)."""

    def __init__(self, workers: int = 2, threads: int = 1, memory_limit: str = "auto") -> None:
        self.workers, self.threads, self.memory_limit = workers, threads, memory_limit
        self.address = ""
        self._procs: list[tuple[str, subprocess.Popen[bytes]]] = []
        self._logs: list[Any] = []
        self._dir = Path(tempfile.mkdtemp(prefix="fraudops-dask-"))

    def _spawn(self, *args: str) -> subprocess.Popen[bytes]:
        # the workers import the pipelines' modules and open relative paths: the same import
        # path and working directory as this process
        env = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in sys.path if p)}
        log = open(self._dir / f"{args[0]}-{len(self._procs)}.log", "wb")  # noqa: SIM115
        self._logs.append(log)
        proc = subprocess.Popen(
            [sys.executable, "-m", "dask", *args],
            stdout=log, stderr=subprocess.STDOUT, env=env, cwd=os.getcwd(),
        )  # fmt: skip
        self._procs.append((args[0], proc))
        return proc

    def __enter__(self) -> LocalDaskCluster:
        try:
            self._start()
        except BaseException:
            self.close()
            raise
        return self

    def _start(self) -> None:
        import distributed

        client_class: Any = distributed.Client
        scheduler_file = self._dir / "scheduler.json"
        where = ("--scheduler-file", str(scheduler_file))
        self._spawn("scheduler", "--host", "127.0.0.1", "--port", "0", "--dashboard-address", ":0",
                    *where)  # fmt: skip
        deadline = time.monotonic() + STARTUP_S
        while not scheduler_file.exists():
            self._check(deadline)
            time.sleep(0.1)
        self._spawn("worker", *where,
                    "--nworkers", str(self.workers), "--nthreads", str(self.threads),
                    "--memory-limit", self.memory_limit, "--no-dashboard")  # fmt: skip
        with client_class(scheduler_file=str(scheduler_file), timeout=STARTUP_S) as client:
            self.address = client.scheduler.address
            while len(client.scheduler_info()["workers"]) < self.workers:
                self._check(deadline)
                time.sleep(0.2)

    def _check(self, deadline: float) -> None:
        for role, proc in self._procs:
            if proc.poll() is not None:
                raise RuntimeError(f"dask {role} exited ({proc.returncode}); logs in {self._dir}")
        if time.monotonic() > deadline:
            raise TimeoutError(f"the local dask cluster did not start in {STARTUP_S:.0f} s "
                               f"(logs in {self._dir})")  # fmt: skip

    def close(self) -> None:
        """Workers first (they leave the scheduler cleanly), then the scheduler."""
        for _, proc in reversed(self._procs):
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
                try:
                    proc.wait(timeout=30)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()
        self._procs.clear()
        for log in self._logs:
            log.close()
        self._logs.clear()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()
        if exc_type is None:  # the logs stay for a failed run
            shutil.rmtree(self._dir, ignore_errors=True)
