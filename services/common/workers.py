"""Worker processes that each listen on their own SO_REUSEPORT socket.

uvicorn's ``--workers`` shares one listening socket, and the first worker to wake accepts every
connection that is waiting (its accept loop takes up to the backlog): a client that opens its
keep-alive connections together lands them all on one worker while the others idle. With one
socket per worker the kernel spreads new connections over the workers by their address hash.
Dead workers are started again; SIGTERM/SIGINT, passed on at once, drain and stop them all.
Between the free-port check and the workers' bind another server could still take the port.
Connections the kernel already queued on a worker that dies are reset (clients retry); with
a shared socket they would wait for the others.
"""

from __future__ import annotations

import ctypes
import logging
import multiprocessing
import os
import signal
import socket
import time
from multiprocessing.process import BaseProcess
from typing import Any

log = logging.getLogger("fraudops.serve")
QUICK_EXIT_S = 5.0  # a worker that dies this soon after its start failed to start
PR_SET_PDEATHSIG = 1  # prctl(2)


def _tcp_socket(host: str) -> socket.socket:
    sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    return sock


def reuseport_socket(host: str, port: int) -> socket.socket:
    """Bound, not listening: uvicorn listens after the app's startup (model loaded), so the
    kernel sends a starting worker no connection it would keep waiting."""
    sock = _tcp_socket(host)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    sock.bind((host, port))
    return sock


def _die_with_parent(parent: int) -> None:
    """A worker whose supervisor was killed stops too (Linux), rather than keep the port."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGTERM)
    except (OSError, AttributeError):
        return
    if os.getppid() != parent:  # the parent died before prctl took effect
        os.kill(os.getpid(), signal.SIGTERM)


def _reaped(pid: int | None) -> None:
    """Drop a dead worker's live gauges from the shared metrics directory."""
    if pid is not None and os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(pid)


def _ensure_free(host: str, port: int) -> None:
    """Refuse a port another server listens on: SO_REUSEPORT would silently share it."""
    with _tcp_socket(host) as probe:
        try:
            probe.bind((host, port))
        except OSError as exc:
            raise SystemExit(f"cannot listen on {host}:{port}: {exc.strerror}") from None


def _worker(app: str, host: str, port: int, options: dict[str, Any], parent: int) -> None:
    from services.common.drain import serve
    from services.common.logs import configure_logging

    _die_with_parent(parent)
    configure_logging(str(options.get("log_level", "info")))
    raise SystemExit(serve(app, host, port, options, sockets=[reuseport_socket(host, port)]))


def run_workers(app: str, host: str, port: int, workers: int, options: dict[str, Any]) -> int:
    """Runs until SIGTERM/SIGINT (0), or 1 when workers keep failing right after their start."""
    _ensure_free(host, port)
    from services.common.drain import DrainSettings

    drain = DrainSettings()
    context = multiprocessing.get_context("spawn")
    stopping = False
    procs: list[tuple[BaseProcess, float]] = []  # (process, when it was started)

    def stop(_signum: int, _frame: Any) -> None:
        nonlocal stopping
        stopping = True
        for p, _ in procs:  # at once: each worker's /readyz turns 503 now, and it drains
            if p.is_alive():
                p.terminate()

    previous = {s: signal.signal(s, stop) for s in (signal.SIGTERM, signal.SIGINT)}

    def start() -> tuple[BaseProcess, float]:
        process = context.Process(
            target=_worker, args=(app, host, port, options, os.getpid()), daemon=False
        )
        process.start()
        return process, time.monotonic()

    procs += [start() for _ in range(workers)]
    log.info("%d workers on %s:%d (one SO_REUSEPORT socket each)", workers, host, port)
    quick_exits = 0
    try:
        while not stopping:
            time.sleep(0.2)
            for i, (p, since) in enumerate(procs):
                if p.is_alive() or stopping:
                    continue
                _reaped(p.pid)
                quick = time.monotonic() - since < QUICK_EXIT_S
                quick_exits = quick_exits + 1 if quick else 0
                if quick_exits >= 3 * workers:
                    log.error("workers exit right after starting (last code %s)", p.exitcode)
                    return 1
                log.warning("worker %s exited (%s); starting another", p.pid, p.exitcode)
                procs[i] = start()
        return 0
    finally:
        for p, _ in procs:
            if p.is_alive():
                p.terminate()  # SIGTERM: each drains (services.common.drain), then exits
        deadline = time.monotonic() + drain.drain_s + drain.shutdown_grace_s + 10
        for p, _ in procs:
            p.join(max(0.0, deadline - time.monotonic()))
            if p.is_alive():
                p.kill()
                p.join(5)
            _reaped(p.pid)
        for s, handler in previous.items():
            signal.signal(s, handler)
