"""Worker processes that each listen on their own SO_REUSEPORT socket.

uvicorn's ``--workers`` shares one listening socket, and the first worker to wake accepts every
connection that is waiting (its accept loop takes up to the backlog): a client that opens its
keep-alive connections together lands them all on one worker while the others idle. With one
socket per worker the kernel spreads new connections over the workers by their address hash.
Dead workers are started again; SIGTERM/SIGINT stop them all (each finishes its requests).
"""

from __future__ import annotations

import logging
import multiprocessing
import signal
import socket
import time
from multiprocessing.process import BaseProcess
from typing import Any

log = logging.getLogger("fraudops.serve")


def reuseport_socket(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    sock.bind((host, port))
    sock.listen(2048)
    sock.set_inheritable(True)
    return sock


def _ensure_free(host: str, port: int) -> None:
    """Refuse a port another server listens on: SO_REUSEPORT would silently share it."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError as exc:
            raise SystemExit(f"cannot listen on {host}:{port}: {exc.strerror}") from None


LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s %(message)s"
QUICK_EXIT_S = 5.0  # a worker that dies this soon after its start failed to start


def _worker(app: str, host: str, port: int, options: dict[str, Any]) -> None:
    import uvicorn

    logging.basicConfig(level=str(options.get("log_level", "info")).upper(), format=LOG_FORMAT)
    config = uvicorn.Config(app, factory=True, host=host, port=port, **options)
    uvicorn.Server(config).run(sockets=[reuseport_socket(host, port)])


def run_workers(app: str, host: str, port: int, workers: int, options: dict[str, Any]) -> int:
    """Runs until SIGTERM/SIGINT (0), or 1 when workers keep failing right after their start."""
    _ensure_free(host, port)
    context = multiprocessing.get_context("spawn")
    stopping = False

    def stop(_signum: int, _frame: Any) -> None:
        nonlocal stopping
        stopping = True

    previous = {s: signal.signal(s, stop) for s in (signal.SIGTERM, signal.SIGINT)}

    started: dict[int, float] = {}

    def start() -> BaseProcess:
        process = context.Process(target=_worker, args=(app, host, port, options), daemon=False)
        process.start()
        started[id(process)] = time.monotonic()
        return process

    procs = [start() for _ in range(workers)]
    log.info("%d workers on %s:%d (one SO_REUSEPORT socket each)", workers, host, port)
    quick_exits = 0
    try:
        while not stopping:
            time.sleep(0.2)
            for i, p in enumerate(procs):
                if p.is_alive() or stopping:
                    continue
                quick = time.monotonic() - started.pop(id(p)) < QUICK_EXIT_S
                quick_exits = quick_exits + 1 if quick else 0
                if quick_exits >= 3 * workers:
                    log.error("workers exit right after starting (last code %s)", p.exitcode)
                    return 1
                log.warning("worker %s exited (%s); starting another", p.pid, p.exitcode)
                procs[i] = start()
        return 0
    finally:
        for p in procs:
            if p.is_alive():
                p.terminate()  # SIGTERM: uvicorn finishes the requests in flight
        deadline = time.monotonic() + 30
        for p in procs:
            p.join(max(0.0, deadline - time.monotonic()))
            if p.is_alive():
                p.kill()
        for s, handler in previous.items():
            signal.signal(s, handler)
