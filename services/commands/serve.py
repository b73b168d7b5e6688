"""``fraudops serve scoring [--host --port --workers]``: run a service under uvicorn, drained
on SIGTERM (services.common.drain)."""

from __future__ import annotations

import argparse
import os
import shutil
import tempfile

APPS = {
    "scoring": "services.scoring.app:create_app",
    "feedback": "services.feedback.app:create_app",
    "alerts": "services.alerts.app:create_app",
}


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("service", choices=sorted(APPS))
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=8000)
    p.add_argument("--workers", type=int, default=1, help="worker processes (one per core)")
    p.add_argument("--access-log", action="store_true", help="log every request (ids only)")
    p.add_argument(
        "--proxy-headers",
        action="store_true",
        help="trust X-Forwarded-* from --forwarded-allow-ips (behind a proxy)",
    )
    p.add_argument("--forwarded-allow-ips", default="127.0.0.1")
    p.add_argument("--log-level", default="info")


def run(args: argparse.Namespace) -> int:
    from services.common.drain import serve
    from services.common.http_protocol import PATH as HTTP_PROTOCOL
    from services.common.http_protocol import limits
    from services.common.logs import configure_logging
    from services.common.workers import run_workers

    configure_logging(args.log_level)
    limits()  # a bad FRAUDOPS_HTTP_* value stops the server here, not at each connection
    multiproc = None
    if args.workers > 1 and not os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        multiproc = tempfile.mkdtemp(prefix="fraudops-metrics-")
        os.environ["PROMETHEUS_MULTIPROC_DIR"] = multiproc
    options = {
        "loop": "uvloop",
        "http": HTTP_PROTOCOL,  # httptools with a header-size limit and a request timeout
        "access_log": args.access_log,
        "proxy_headers": args.proxy_headers,  # off: one middleware less per request
        "forwarded_allow_ips": args.forwarded_allow_ips,
        "log_level": args.log_level,
        "log_config": None,  # configure_logging's JSON lines, not uvicorn's text handlers
    }
    try:
        if args.workers > 1:
            return run_workers(APPS[args.service], args.host, args.port, args.workers, options)
        return serve(APPS[args.service], args.host, args.port, options)
    finally:
        if multiproc:
            shutil.rmtree(multiproc, ignore_errors=True)
