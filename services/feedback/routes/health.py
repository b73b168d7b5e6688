"""Liveness, readiness and the Prometheus scrape: what every fraudops service answers."""

from __future__ import annotations

from fastapi import APIRouter, Response
from fastapi.responses import JSONResponse

from services.common.db import reachable
from services.common.drain import DRAINING_DETAIL, draining
from services.common.metrics import metrics_response
from services.feedback.deps import IngestorDep, RedisDep, Sessions
from services.feedback.schemas import Health, Ready

router = APIRouter()


@router.get("/healthz", response_model=Health)
def healthz() -> Health:
    return Health(status="ok")


@router.get("/readyz", response_model=Ready, responses={503: {"model": Ready}})
def readyz(sessions: Sessions, client: RedisDep, ingestor: IngestorDep) -> JSONResponse:
    # ready when the database answers (a label is recorded there) and the scoring-log consumer
    # is not failing drain after drain (its payments would be answered 404, never scored: a
    # final answer, where not-ready makes the caller retry). Redis away alone only delays the
    # profiles; once it stops the consumer too, the service is not ready (no docstring: OpenAPI)
    db_ok, redis_ok = reachable(sessions, client)
    trouble = ingestor.trouble()
    consumer_ok = trouble is None
    ready = db_ok and consumer_ok
    detail = None if db_ok else "database unreachable"
    if ready and not redis_ok:
        detail = "redis unreachable: labels are stored, profile updates wait"
    if db_ok and trouble is not None:
        detail = f"{trouble}: payments scored since are not known yet"
    if draining():  # SIGTERM: the balancer takes this replica out (services.common.drain)
        ready, detail = False, DRAINING_DETAIL
    body = Ready(ready=ready, database=db_ok, redis=redis_ok, consumer=consumer_ok, detail=detail)
    return JSONResponse(body.model_dump(), status_code=200 if ready else 503)


@router.get("/metrics", include_in_schema=False)
def metrics() -> Response:
    return metrics_response()
