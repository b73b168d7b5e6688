"""FastAPI app of the feedback service: labels in, effective labels out to SQL and the profiles.

The lifespan owns the database engine (migrated to head at start), the Redis client and one
background thread that moves the scoring log into SQL and pending labels into the profile store.
Routes are plain ``def``: SQLAlchemy's blocking calls run in the threadpool, not on the loop.
"""

from __future__ import annotations

import contextlib
import logging
import os
import socket
import threading
import time
from collections.abc import AsyncIterator, Callable
from datetime import datetime
from typing import Annotated, Any

import redis
from fastapi import Depends, FastAPI, Header, HTTPException, Request, Response
from fastapi.responses import JSONResponse
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError, OperationalError
from sqlalchemy.orm import Session, sessionmaker

from fraudops.profile_store.client import ProfileStore
from fraudops.profile_store.commands import StoreConfig
from fraudops.settings import CoreSettings
from services.common.app import service_app
from services.common.auth import KeyRing
from services.common.limits import BodyLimit
from services.common.metrics import metrics_response
from services.feedback import migrate, store, tokens
from services.feedback.db import LabelEvent, make_engine, session_factory, utcnow
from services.feedback.ingest import ScoringLogIngestor
from services.feedback.metrics import ERRORS, LABELS, REQUEST_SECONDS
from services.feedback.profiles import ProfileLabelSync
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


def _sessions(request: Request) -> sessionmaker[Session]:
    return request.app.state.sessions  # type: ignore[no-any-return]


Sessions = Annotated[sessionmaker[Session], Depends(_sessions)]
Authorization = Annotated[str | None, Header()]


def _event_out(e: LabelEvent) -> LabelEventOut:
    return LabelEventOut(event_id=e.id, label=e.label, source=e.source, actor=e.actor,  # type: ignore[arg-type]
                         arrived_at=e.arrived_at)  # fmt: skip


class Background:
    """One thread: scoring log -> SQL, then pending labels -> Redis, every ``every_s``."""

    def __init__(self, ingestor: ScoringLogIngestor, sync: ProfileLabelSync, every_s: float):
        self.ingestor, self.sync, self.every_s = ingestor, sync, every_s
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="feedback-sync", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=10)

    def _loop(self) -> None:
        while not self._stop.wait(self.every_s):
            for step in (self.ingestor.drain, self.sync.run_once):
                try:
                    step()
                except Exception as exc:  # a dependency is down: retried next turn
                    log.warning("background %s failed: %s", step.__qualname__, type(exc).__name__)


def create_app(settings: FeedbackSettings | None = None, clock: Clock = utcnow) -> Any:
    settings = settings or FeedbackSettings()
    core = CoreSettings()
    keys = KeyRing.from_json(settings.api_keys)
    secret = settings.token_secret.get_secret_value() if settings.token_secret else None

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        engine = make_engine(core.database_url)
        migrate.upgrade(engine)
        sessions = session_factory(engine)
        client = redis.Redis.from_url(
            core.redis_url,
            socket_timeout=settings.redis_timeout_s,
            socket_connect_timeout=settings.redis_timeout_s,
        )
        consumer = f"{socket.gethostname()}-{os.getpid()}"
        ingestor = ScoringLogIngestor(client, sessions, core.key_prefix, settings.consumer_group,
                                      consumer, settings.ingest_batch)  # fmt: skip
        sync = ProfileLabelSync(ProfileStore(client, StoreConfig.from_settings(core)), sessions)
        background = Background(ingestor, sync, settings.sync_every_s)
        app.state.sessions, app.state.redis = sessions, client
        app.state.ingestor, app.state.profile_sync = ingestor, sync
        if not len(keys):
            log.warning("no API keys configured: analyst and chargeback labels will get 401")
        if secret is None:
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
        return JSONResponse({"detail": "database unavailable; nothing was stored, retry"},
                            status_code=503, headers={"Retry-After": "1"})  # fmt: skip

    def caller(body: FeedbackRequest, authorization: str | None) -> tuple[str, str | None]:
        """(actor, customer the caller may label for; None = any)."""
        if body.source != "in_app":
            return keys.authorize(authorization, f"label:{body.source}").name, None
        if secret is None:
            raise HTTPException(503, "in-app labels are not enabled on this service")
        if not authorization or not authorization.startswith("Bearer "):
            raise HTTPException(401, "in-app labels need 'Authorization: Bearer <user token>'",
                                headers={"WWW-Authenticate": "Bearer"})  # fmt: skip
        try:
            customer = tokens.verify(secret, authorization[7:].strip(), clock())
        except tokens.TokenError as exc:
            ERRORS.labels("token").inc()
            raise HTTPException(401, f"user token refused: {exc}",
                                headers={"WWW-Authenticate": "Bearer"}) from None  # fmt: skip
        return f"customer:{customer}", customer

    def record(sessions: sessionmaker[Session], body: FeedbackRequest, actor: str,
               owner: str | None) -> store.Recorded:  # fmt: skip
        with sessions.begin() as session:
            scored = store.lock_transaction(session, body.transaction_id)
            if owner is not None and scored.customer_id != owner:
                ERRORS.labels("not_owner").inc()
                raise HTTPException(403, "a customer may label only their own transactions")
            return store.record_label(session, body.transaction_id, body.label, body.source,
                                      actor, clock())  # fmt: skip

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
    def feedback(body: FeedbackRequest, sessions: Sessions, request: Request,
                 authorization: Authorization = None) -> JSONResponse:  # fmt: skip
        started = time.perf_counter()
        actor, owner = caller(body, authorization)
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
    def label_history(transaction_id: str, sessions: Sessions,
                      authorization: Authorization = None) -> LabelHistory:  # fmt: skip
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

    @app.get("/healthz", response_model=Health)
    def healthz() -> Health:
        return Health(status="ok")

    @app.get("/readyz", response_model=Ready, responses={503: {"model": Ready}})
    def readyz(request: Request) -> JSONResponse:
        db_ok = redis_ok = False
        with contextlib.suppress(Exception), request.app.state.sessions() as session:
            db_ok = session.execute(text("SELECT 1")).scalar() == 1
        with contextlib.suppress(Exception):
            redis_ok = bool(request.app.state.redis.ping())
        detail = None if db_ok else "database unreachable"
        if db_ok and not redis_ok:
            detail = "redis unreachable: labels are stored, profile updates wait"
        body = Ready(ready=db_ok, database=db_ok, redis=redis_ok, detail=detail)
        return JSONResponse(body.model_dump(), status_code=200 if db_ok else 503)

    @app.get("/metrics", include_in_schema=False)
    def metrics() -> Response:
        return metrics_response()

    return BodyLimit(app, settings.max_body_bytes)
