"""Prometheus metrics that also work with several uvicorn worker processes.

With ``PROMETHEUS_MULTIPROC_DIR`` set (``fraudops serve --workers N`` sets it), every worker
writes its samples there and ``/metrics`` aggregates them.
"""

from __future__ import annotations

import logging
import os

from fastapi import Response
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    generate_latest,
)

log = logging.getLogger("fraudops.readiness")
PROBE_FAILURES = Counter(
    "fraudops_readiness_probe_failures_total",
    "Readiness checks that found a dependency unreachable",
    ["dependency"],
)

# sub-millisecond resolution where the scoring budget lives
LATENCY_BUCKETS = (
    0.00025,
    0.0005,
    0.00075,
    0.001,
    0.0015,
    0.002,
    0.003,
    0.005,
    0.0075,
    0.01,
    0.015,
    0.025,
    0.05,
    0.1,
    0.25,
    0.5,
    1.0,
    2.5,
)


def probe_failed(dependency: str, exc: BaseException) -> None:
    """A /readyz check that failed: not ready, logged (the kind of error only) and counted."""
    PROBE_FAILURES.labels(dependency).inc()
    log.warning("readiness: %s unreachable (%s)", dependency, type(exc).__name__)


def metrics_response() -> Response:
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        from prometheus_client import multiprocess

        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
    else:
        registry = REGISTRY
    return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)
