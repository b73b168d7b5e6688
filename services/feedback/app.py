"""FastAPI app of the feedback service: labels in, effective labels out to SQL and the profiles.

``create_app`` wires configuration, the label policy and the routers; the lifespan owns the
database engine (migrated to head at start), the Redis client and the background work
(services.feedback.background). Routes are plain ``def``: SQLAlchemy's blocking calls run in the
threadpool, not on the loop.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator, Callable
from datetime import datetime

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from sqlalchemy.exc import DBAPIError, OperationalError

from fraudops import redis_clients
from fraudops.settings import CoreSettings, secret
from services.common.app import service_app
from services.common.auth import KeyRing
from services.common.limits import BodyLimit
from services.common.ratelimit import Limits, RateLimiter
from services.feedback.background import BackgroundWork
from services.feedback.db import make_engine, session_factory, upgrade, utcnow
from services.feedback.metrics import ERRORS
from services.feedback.policy import LabelPolicy
from services.feedback.routes import ROUTERS
from services.feedback.settings import FeedbackSettings

log = logging.getLogger("fraudops.feedback")
Clock = Callable[[], datetime]


@contextlib.asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    """What the app holds while it serves, released in reverse order when it stops."""
    settings: FeedbackSettings = app.state.settings
    core: CoreSettings = app.state.core
    engine = make_engine(core.database_url)
    upgrade(engine)
    sessions = session_factory(engine)
    client = redis_clients.from_settings(  # one Redis, or a cluster (REDIS_CLUSTER)
        core,
        socket_timeout=settings.redis_timeout_s,
        socket_connect_timeout=settings.redis_timeout_s,
    )
    work = BackgroundWork.build(settings, core, sessions, client, app.state.clock)
    app.state.sessions, app.state.redis, app.state.monitor = sessions, client, work.monitor
    app.state.ingestor, app.state.profile_sync = work.ingestor, work.profile_sync
    app.state.policy.warn_gaps(log)
    work.start()
    try:
        yield
    finally:
        work.stop()
        client.close()
        engine.dispose()


async def database_down(request: Request, exc: Exception) -> JSONResponse:
    """Any database failure is a 503 the caller may retry: nothing was stored."""
    ERRORS.labels("database").inc()
    log.warning("database error: %s", type(getattr(exc, "orig", exc)).__name__)
    return JSONResponse(
        {"detail": "database unavailable; nothing was stored, retry"},
        status_code=503,
        headers={"Retry-After": "1"},
    )


def create_app(settings: FeedbackSettings | None = None, clock: Clock = utcnow) -> BodyLimit:
    """The feedback service as an ASGI app (``.api`` is the FastAPI app inside)."""
    settings = settings or FeedbackSettings()
    keys = KeyRing.from_json(settings.api_keys)
    app = service_app(
        "fraudops feedback",
        "Labels from card holders (in-app), chargeback feeds and analysts.",
        lifespan,
        keys,
        ERRORS,
    )
    app.state.settings, app.state.core, app.state.clock = settings, CoreSettings(), clock
    app.state.policy = LabelPolicy(keys, secret(settings.token_secret), clock)
    app.state.limiter = RateLimiter("feedback", app.state.core.key_prefix, {
        "key": Limits.parse(settings.rate_limit_per_key, settings.rate_limit_window_s,
                            settings.rate_limit_keys),
        "user": Limits.parse(settings.rate_limit_per_user, settings.rate_limit_user_window_s),
    })  # fmt: skip
    app.add_exception_handler(OperationalError, database_down)
    app.add_exception_handler(DBAPIError, database_down)
    for router in ROUTERS:
        app.include_router(router)
    return BodyLimit(app, settings.max_body_bytes)
