"""Reading a finished pipeline's counters (namespace.name -> value)."""

from __future__ import annotations

from typing import Any

from apache_beam.metrics.metric import MetricsFilter


def counters(result: Any) -> dict[str, int]:
    out: dict[str, int] = {}
    for c in result.metrics().query(MetricsFilter())["counters"]:
        key = f"{c.key.metric.namespace}.{c.key.metric.name}"
        out[key] = out.get(key, 0) + int(c.committed if c.committed is not None else c.attempted)
    return out
