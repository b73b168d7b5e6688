"""FastAPI app of the scoring service: the lifespan owns the Redis pool and the model holder."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator
from typing import Annotated, Any

import redis.asyncio as aredis
from fastapi import Depends, FastAPI, HTTPException, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse

from fraudops.schema import Transaction
from models.runtime import ScoringModel
from services.common.app import service_app
from services.common.auth import ApiKey, KeyRing, require
from services.common.limits import BodyLimit
from services.common.metrics import metrics_response
from services.scoring.coalesce import Coalescer
from services.scoring.engine import Busy, Scorer
from services.scoring.fastpath import ScoreFastPath
from services.scoring.metrics import ERRORS, REQUEST_SECONDS
from services.scoring.model_holder import ModelHolder
from services.scoring.schemas import (
    ERROR_RESPONSES,
    BatchRequest,
    BatchResponse,
    Health,
    Ready,
    ScoreResponse,
    future_dated,
)
from services.scoring.settings import ScoringSettings
from services.scoring.wire import RedisWire

log = logging.getLogger("fraudops.scoring")
_SINGLE = REQUEST_SECONDS.labels("score")
_BATCH = REQUEST_SECONDS.labels("batch")


async def _scorer(request: Request) -> Scorer:
    return request.app.state.scorer  # type: ignore[no-any-return]


async def _model(request: Request) -> ScoringModel:
    model: ScoringModel | None = request.app.state.holder.current
    if model is None:
        ERRORS.labels("no_model").inc()
        raise request.app.state.holder.unavailable()
    return model


ScorerDep = Annotated[Scorer, Depends(_scorer)]
ModelDep = Annotated[ScoringModel, Depends(_model)]
ScoreKey = Annotated[ApiKey, Depends(require("score"))]


def create_app(settings: ScoringSettings | None = None) -> Any:
    """The ASGI app (``.api`` is the FastAPI app inside, with its state and OpenAPI)."""
    settings = settings or ScoringSettings()
    keys = KeyRing.from_json(settings.api_keys)
    url, store_cfg, _timeout = settings.store()

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        budget = settings.redis_budget_ms / 1000
        # Every call is bounded where it is made (asyncio.timeout: the request's budget). A
        # client socket timeout would add a Task per write (wait_for) and a timer per reply.
        client = aredis.Redis.from_url(
            url,
            socket_timeout=None,
            socket_connect_timeout=budget,
            max_connections=256,
            health_check_interval=0,
        )
        wire = RedisWire(url)
        holder = ModelHolder(settings.model_dir, settings.model_alias)
        await holder.refresh()
        app.state.holder = holder
        app.state.redis = client
        app.state.scorer = Scorer(
            client,
            wire,
            store_cfg,
            budget,
            settings.batch_redis_budget_ms / 1000,
            settings.breaker_s,
            settings.replay_capacity,
            settings.duplicate_wait_ms / 1000,
            settings.log_maxlen,
            settings.write_every_ms / 1000,
        )
        app.state.coalescer = Coalescer(app.state.scorer)
        writer = asyncio.create_task(app.state.scorer.write_answers())
        tasks = [
            asyncio.create_task(holder.watch(settings.model_poll_s)),
            asyncio.create_task(app.state.scorer.replay_loop()),
        ]
        if not len(keys):
            log.warning("no API keys configured: every score request will be refused (401)")

        try:
            yield
        finally:
            for t in tasks:
                t.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            app.state.scorer.stop_writer()  # its last flush stores every answer given
            await asyncio.wait([writer], timeout=5)
            await app.state.scorer.replay_pending()
            wire.close()
            await client.aclose()

    app = service_app(
        "fraudops scoring",
        "Scores card payments: approve / review / decline with reasons.",
        lifespan,
        keys,
        ERRORS,
    )
    app.state.max_ahead_s = settings.max_ahead_s  # read by the fast path too

    @app.post("/v1/score", response_model=ScoreResponse, responses=ERROR_RESPONSES)
    async def score(
        tx: Transaction, _key: ScoreKey, scorer: ScorerDep, model: ModelDep
    ) -> Response:
        started = time.perf_counter()
        late = future_dated((tx,), time.time(), settings.max_ahead_s, batch=False)
        if late:
            raise RequestValidationError(late)  # counted and shaped by the app's 422 handler
        try:
            (body,) = await scorer.score(model, [tx.to_txn()])
        except Busy:
            ERRORS.labels("busy").inc()
            raise HTTPException(
                409,
                f"transaction {tx.transaction_id} is being scored; retry",
                headers={"Retry-After": "1"},
            ) from None
        _SINGLE.observe(time.perf_counter() - started)
        return Response(body, media_type="application/json")

    @app.post("/v1/score/batch", response_model=BatchResponse, responses=ERROR_RESPONSES)
    async def score_batch(
        batch: BatchRequest, _key: ScoreKey, scorer: ScorerDep, model: ModelDep
    ) -> Response:
        started = time.perf_counter()
        if len(batch.transactions) > settings.max_batch:
            msg = f"at most {settings.max_batch} per batch"
            raise RequestValidationError(
                [{"type": "too_long", "loc": ("body", "transactions"), "msg": msg}]
            )
        late = future_dated(batch.transactions, time.time(), settings.max_ahead_s, batch=True)
        if late:
            raise RequestValidationError(late)
        try:
            bodies = await scorer.score(model, [t.to_txn() for t in batch.transactions])
        except Busy as exc:
            ERRORS.labels("busy").inc()
            raise HTTPException(
                409, f"transaction {exc} is being scored; retry", headers={"Retry-After": "1"}
            ) from None
        _BATCH.observe(time.perf_counter() - started)
        return Response(b'{"results":[' + b",".join(bodies) + b"]}", media_type="application/json")

    @app.get("/healthz", response_model=Health)
    async def healthz() -> Health:
        return Health(status="ok")

    @app.get("/readyz", response_model=Ready, responses={503: {"model": Ready}})
    async def readyz(request: Request) -> JSONResponse:
        holder: ModelHolder = request.app.state.holder
        try:
            async with asyncio.timeout(0.5):
                redis_ok = bool(await request.app.state.redis.ping())
        except Exception:
            redis_ok = False
        model = holder.current
        ready = model is not None and redis_ok
        detail = (
            None if ready else (holder.error or ("redis unreachable" if not redis_ok else None))
        )
        body = Ready(
            ready=ready,
            model_version=model.version if model else None,
            redis=redis_ok,
            detail=detail,
        )
        return JSONResponse(body.model_dump(), status_code=200 if ready else 503)

    @app.get("/metrics", include_in_schema=False)
    async def metrics() -> Response:
        return metrics_response()

    # the fast path serves POST /v1/score; the route above documents it and serves the same
    # answers when the app is used without the wrapper
    return BodyLimit(ScoreFastPath(app, app), settings.max_body_bytes)
