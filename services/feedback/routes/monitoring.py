"""The model-monitoring view the console reads (``GET /v1/monitoring``)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from fastapi import APIRouter

from services.feedback.deps import ClockDep, MonitorDep, MonitoringReader

router = APIRouter()
FRESH_S = 5.0  # a view older than this is recomputed on request


@router.get(
    "/v1/monitoring",
    responses={
        401: {"description": "missing or unknown API key"},
        403: {"description": "key without a monitoring scope"},
    },
)
def monitoring(monitor: MonitorDep, clock: ClockDep, _reader: MonitoringReader) -> dict[str, Any]:
    """Drift (PSI per feature and of the score), live precision/recall and decisions per
    hour over the monitoring windows (recomputed when older than 5 seconds)."""
    last = monitor.last
    if not last or (clock() - datetime.fromisoformat(last["at"])).total_seconds() > FRESH_S:
        last = monitor.run_once(clock())
    return last
