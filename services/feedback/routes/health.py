"""Liveness, readiness and the Prometheus scrape: what every fraudops service answers."""

from __future__ import annotations

from fastapi import APIRouter, Response
from fastapi.responses import JSONResponse

from services.common.db import reachable
from services.common.metrics import metrics_response
from services.feedback.deps import RedisDep, Sessions
from services.feedback.schemas import Health, Ready

router = APIRouter()


@router.get("/healthz", response_model=Health)
def healthz() -> Health:
    return Health(status="ok")


@router.get("/readyz", response_model=Ready, responses={503: {"model": Ready}})
def readyz(sessions: Sessions, client: RedisDep) -> JSONResponse:
    # ready when the database answers (a label is recorded there); Redis away only delays the
    # profiles, so it is reported but does not make the service unready (no docstring: OpenAPI)
    db_ok, redis_ok = reachable(sessions, client)
    detail = None if db_ok else "database unreachable"
    if db_ok and not redis_ok:
        detail = "redis unreachable: labels are stored, profile updates wait"
    body = Ready(ready=db_ok, database=db_ok, redis=redis_ok, detail=detail)
    return JSONResponse(body.model_dump(), status_code=200 if db_ok else 503)


@router.get("/metrics", include_in_schema=False)
def metrics() -> Response:
    return metrics_response()
