"""FastAPI app of the feedback service: labels in, effective labels out to SQL and the profiles.

The lifespan owns the database engine (migrated to head at start), the Redis client and one
background thread that moves the scoring log into SQL and pending labels into the profile store.
Routes are plain ``def``: SQLAlchemy's blocking calls run in the threadpool, not on the loop.
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
import socket
import time
from collections.abc import AsyncIterator, Callable
from datetime import datetime, timedelta
from typing import Annotated, Any

import redis
from fastapi import Depends, FastAPI, Header, HTTPException, Request, Response
from fastapi.responses import JSONResponse
from sqlalchemy.exc import DBAPIError, OperationalError
from sqlalchemy.orm import Session, sessionmaker

from fraudops.profile_store.client import ProfileStore
from fraudops.profile_store.commands import StoreConfig
from fraudops.settings import CoreSettings, secret
from services.common.app import service_app
from services.common.auth import KeyRing, bearer_token
from services.common.db import reachable
from services.common.limits import BodyLimit
from services.common.metrics import metrics_response
from services.common.worker import Worker
from services.feedback import store, tokens
from services.feedback.db import LabelEvent, make_engine, session_factory, upgrade, utcnow
from services.feedback.ingest import ScoringLogIngestor
from services.feedback.metrics import ERRORS, LABELS, REQUEST_SECONDS
from services.feedback.monitoring import Monitor, MonitorConfig
from services.feedback.profiles import ProfileLabelSync
from services.feedback.retention import purge_scoring_log
from services.feedback.schemas import (
    FeedbackRequest,
    FeedbackResponse,
    Health,
    LabelEventOut,
    LabelHistory,
    Ready,
)
from services.feedback.settings import FeedbackSettings

log = logging.getLogger("fraudops.feedback")
_POST = REQUEST_SECONDS.labels("feedback")
Clock = Callable[[], datetime]
ACTOR = re.compile(r"[A-Za-z0-9._@-]{1,64}")


def _sessions(request: Request) -> sessionmaker[Session]:
    return request.app.state.sessions  # type: ignore[no-any-return]


Sessions = Annotated[sessionmaker[Session], Depends(_sessions)]
Authorization = Annotated[str | None, Header()]


def _event_out(e: LabelEvent) -> LabelEventOut:
    return LabelEventOut(
        event_id=e.id,
        label=e.label,
        source=e.source,
        actor=e.actor,  # type: ignore[arg-type]
        arrived_at=e.arrived_at,
    )


def background_turn(
    ingestor: ScoringLogIngestor,
    sync: ProfileLabelSync,
    periodic: list[tuple[float, Callable[[], object]]],
) -> Callable[[], None]:
    """One turn of the background thread: scoring log -> SQL, pending labels -> Redis, and each
    ``(every_s, step)`` of ``periodic`` when due (model monitor, retention); each step fails alone
    (its dependency away)."""
    due = [0.0] * len(periodic)

    def turn() -> None:
        steps: list[Callable[[], object]] = [ingestor.drain, sync.run_once]
        for i, (every_s, step) in enumerate(periodic):
            if time.monotonic() >= due[i]:
                due[i] = time.monotonic() + every_s
                steps.append(step)
        for step in steps:
            try:
                step()
            except Exception as exc:  # retried next turn
                log.warning("background step failed: %s", type(exc).__name__)

    return turn


def create_app(settings: FeedbackSettings | None = None, clock: Clock = utcnow) -> Any:
    settings = settings or FeedbackSettings()
    core = CoreSettings()
    keys = KeyRing.from_json(settings.api_keys)
    token_secret = secret(settings.token_secret)

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        engine = make_engine(core.database_url)
        upgrade(engine)
        sessions = session_factory(engine)
        client = redis.Redis.from_url(
            core.redis_url,
            socket_timeout=settings.redis_timeout_s,
            socket_connect_timeout=settings.redis_timeout_s,
        )
        consumer = f"{socket.gethostname()}-{os.getpid()}"
        ingestor = ScoringLogIngestor(
            client,
            sessions,
            core.key_prefix,
            settings.consumer_group,
            consumer,
            settings.ingest_batch,
        )
        sync = ProfileLabelSync(ProfileStore(client, StoreConfig.from_settings(core)), sessions)
        monitor = Monitor(
            sessions,
            settings.model_dir,
            MonitorConfig(
                timedelta(hours=settings.drift_window_hours),
                quality_window=timedelta(days=settings.quality_window_days),
            ),
        )
        periodic: list[tuple[float, Callable[[], object]]] = [
            (settings.monitor_every_s, lambda: monitor.run_once(clock()))
        ]
        if settings.scoring_log_retention_days:
            keep = timedelta(days=settings.scoring_log_retention_days)

            def retention() -> None:
                removed = purge_scoring_log(sessions, client, core.key_prefix, clock() - keep)
                if removed.total():
                    log.info("retention: removed %s", dict(removed))

            periodic.append((settings.retention_every_s, retention))
        background = Worker(
            "feedback-sync",
            background_turn(ingestor, sync, periodic),
            settings.sync_every_s,
            log,
        )
        app.state.monitor = monitor
        app.state.sessions, app.state.redis = sessions, client
        app.state.ingestor, app.state.profile_sync = ingestor, sync
        if not len(keys):
            log.warning("no API keys configured: analyst and chargeback labels will get 401")
        if token_secret is None:
            log.warning("FRAUDOPS_FEEDBACK_TOKEN_SECRET unset: in-app labels are refused (503)")
        background.start()
        try:
            yield
        finally:
            background.stop()
            client.close()
            engine.dispose()

    app = service_app(
        "fraudops feedback",
        "Labels from card holders (in-app), chargeback feeds and analysts.",
        lifespan,
        keys,
        ERRORS,
    )

    @app.exception_handler(OperationalError)
    @app.exception_handler(DBAPIError)
    async def database_down(request: Request, exc: Exception) -> JSONResponse:
        ERRORS.labels("database").inc()
        log.warning("database error: %s", type(getattr(exc, "orig", exc)).__name__)
        return JSONResponse(
            {"detail": "database unavailable; nothing was stored, retry"},
            status_code=503,
            headers={"Retry-After": "1"},
        )

    def caller(
        body: FeedbackRequest, authorization: str | None, on_behalf: str | None
    ) -> tuple[str, str | None]:
        """(actor, customer the caller may label for; None = any). A key with the scope
        ``label:on-behalf`` (the console) names the analyst it acts for: actor "key:analyst"."""
        if body.source != "in_app":
            key = keys.authorize(authorization, f"label:{body.source}")
            if on_behalf and "label:on-behalf" in key.scopes:
                if not ACTOR.fullmatch(on_behalf):
                    raise HTTPException(422, "X-Fraudops-Actor: 1-64 letters, digits, ._@-")
                return f"{key.name}:{on_behalf}", None
            return key.name, None
        if token_secret is None:
            raise HTTPException(503, "in-app labels are not enabled on this service")
        user_token = bearer_token(authorization)
        if user_token is None:
            raise HTTPException(
                401,
                "in-app labels need 'Authorization: Bearer <user token>'",
                headers={"WWW-Authenticate": "Bearer"},
            )
        try:
            customer = tokens.verify(token_secret, user_token, clock())
        except tokens.TokenError as exc:
            ERRORS.labels("token").inc()
            raise HTTPException(
                401, f"user token refused: {exc}", headers={"WWW-Authenticate": "Bearer"}
            ) from None
        return f"customer:{customer}", customer

    def record(
        sessions: sessionmaker[Session], body: FeedbackRequest, actor: str, owner: str | None
    ) -> store.Recorded:
        try:
            with sessions.begin() as session:
                return store.record_label(
                    session, body.transaction_id, body.label, body.source, actor, clock(), owner
                )
        except store.NotOwner:
            ERRORS.labels("not_owner").inc()
            raise HTTPException(403, "a customer may label only their own transactions") from None

    @app.post(
        "/v1/feedback",
        response_model=FeedbackResponse,
        status_code=201,
        responses={
            200: {"model": FeedbackResponse, "description": "the same label was already recorded"},
            401: {"description": "missing/unknown key, or a bad/expired/forged user token"},
            403: {"description": "key without the source's scope, or not the customer's payment"},
            404: {"description": "transaction never scored"},
            413: {"description": "body too large"},
            422: {"description": "invalid body"},
            503: {"description": "database unavailable (nothing stored; retry)"},
        },
    )
    def feedback(
        body: FeedbackRequest,
        sessions: Sessions,
        request: Request,
        authorization: Authorization = None,
        x_fraudops_actor: Annotated[str | None, Header()] = None,
    ) -> JSONResponse:
        started = time.perf_counter()
        actor, owner = caller(body, authorization, x_fraudops_actor)
        try:
            rec = record(sessions, body, actor, owner)
        except store.UnknownTransaction:
            with contextlib.suppress(Exception):  # the scoring log may be a moment behind
                request.app.state.ingestor.drain(max_batches=10)
            try:
                rec = record(sessions, body, actor, owner)
            except store.UnknownTransaction:
                ERRORS.labels("unknown_transaction").inc()
                raise HTTPException(
                    404, f"transaction_id {body.transaction_id!r} was never scored"
                ) from None
        if rec.changed:
            with contextlib.suppress(Exception):  # Redis down: the sync loop retries
                request.app.state.profile_sync.run_once(limit=50)
        LABELS.labels(body.source, body.label, "created" if rec.created else "duplicate").inc()
        out = FeedbackResponse(
            transaction_id=body.transaction_id,
            event=_event_out(rec.event),
            duplicate=not rec.created,
            effective_label=rec.effective.label,  # type: ignore[arg-type]
            effective_source=rec.effective.source,  # type: ignore[arg-type]
        )
        _POST.observe(time.perf_counter() - started)
        return JSONResponse(out.model_dump(mode="json"), status_code=201 if rec.created else 200)

    @app.get("/v1/feedback/{transaction_id}", response_model=LabelHistory)
    def label_history(
        transaction_id: str, sessions: Sessions, authorization: Authorization = None
    ) -> LabelHistory:
        key = keys.authenticate(authorization)
        if not key.scopes & {"labels:read", "label:analyst"}:
            raise HTTPException(403, f"API key '{key.name}' lacks the 'labels:read' scope")
        with sessions() as session:
            events = store.history(session, transaction_id)
        winner = store.effective_of(events)
        return LabelHistory(
            transaction_id=transaction_id,
            effective_label=winner.label if winner else None,  # type: ignore[arg-type]
            effective_source=winner.source if winner else None,  # type: ignore[arg-type]
            events=[_event_out(e) for e in events],
        )

    @app.get(
        "/v1/monitoring",
        responses={
            401: {"description": "missing or unknown API key"},
            403: {"description": "key without a monitoring scope"},
        },
    )
    def monitoring(request: Request, authorization: Authorization = None) -> dict[str, Any]:
        """Drift (PSI per feature and of the score), live precision/recall and decisions per
        hour over the monitoring windows (recomputed when older than 5 seconds)."""
        key = keys.authenticate(authorization)
        if not key.scopes & {"labels:read", "label:analyst", "monitoring"}:
            raise HTTPException(403, f"API key '{key.name}' lacks the 'monitoring' scope")
        monitor: Monitor = request.app.state.monitor
        last = monitor.last
        if not last or (clock() - datetime.fromisoformat(last["at"])).total_seconds() > 5:
            last = monitor.run_once(clock())
        return last

    @app.get("/healthz", response_model=Health)
    def healthz() -> Health:
        return Health(status="ok")

    @app.get("/readyz", response_model=Ready, responses={503: {"model": Ready}})
    def readyz(request: Request) -> JSONResponse:
        db_ok, redis_ok = reachable(request.app.state.sessions, request.app.state.redis)
        detail = None if db_ok else "database unreachable"
        if db_ok and not redis_ok:
            detail = "redis unreachable: labels are stored, profile updates wait"
        body = Ready(ready=db_ok, database=db_ok, redis=redis_ok, detail=detail)
        return JSONResponse(body.model_dump(), status_code=200 if db_ok else 503)

    @app.get("/metrics", include_in_schema=False)
    def metrics() -> Response:
        return metrics_response()

    return BodyLimit(app, settings.max_body_bytes)
