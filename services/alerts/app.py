"""FastAPI app of the alerts service: the scoring-log consumer, one delivery worker per channel and
the dead-letter outbox publisher (background threads), the Alertmanager receiver and the console.
The lifespan owns the database, Redis, the channels and those threads."""

from __future__ import annotations

import contextlib
import logging
import os
import socket
from collections.abc import AsyncIterator, Callable
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any

import httpx
from fastapi import Depends, FastAPI, Request, Response
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field
from starlette.middleware.sessions import SessionMiddleware

from fraudops import redis_clients
from fraudops.rules.lists import ListStore
from fraudops.settings import CoreSettings, secret
from services.alerts import console, console_lists, console_rules, csrf, lists_api, rules_api
from services.alerts.analysts import ITERATIONS, Analysts
from services.alerts.channels import Message, channels_from
from services.alerts.consumer import AlertConsumer
from services.alerts.db import upgrade
from services.alerts.login_throttle import BoundedVerifier, LoginThrottle
from services.alerts.metrics import ERRORS, OPERATIONAL
from services.alerts.notify import Notifier
from services.alerts.outbox import OutboxPublisher
from services.alerts.rulesets import RuleSets, open_registry
from services.alerts.sessions import ConsoleSessions, SessionStore
from services.alerts.settings import AlertsSettings
from services.common.app import service_app
from services.common.auth import ApiKey, KeyRing, require
from services.common.db import make_engine, reachable, session_factory, utcnow
from services.common.drain import DRAINING_DETAIL, draining
from services.common.limits import BodyLimit
from services.common.metrics import metrics_response
from services.common.worker import Worker

log = logging.getLogger("fraudops.alerts")
AlertmanagerKey = Annotated[ApiKey, Depends(require("alertmanager"))]


class AmAlert(BaseModel):
    model_config = ConfigDict(extra="allow")
    status: str = Field(pattern="^(firing|resolved)$")
    labels: dict[str, str]
    annotations: dict[str, str] = {}
    startsAt: str = ""
    fingerprint: str = ""


class AmWebhook(BaseModel):
    """Alertmanager's webhook payload (version 4)."""

    model_config = ConfigDict(extra="allow")
    status: str
    alerts: list[AmAlert] = Field(max_length=1000)


def operational_message(alert: AmAlert) -> Message:
    name = alert.labels.get("alertname", "alert")
    severity = alert.labels.get("severity", "ticket")
    summary = alert.annotations.get("summary", "")
    title = f"[{alert.status.upper()}] {name}" + (f": {summary}" if summary else "")
    lines = [
        alert.annotations.get("description", ""),
        *(f"{k}={v}" for k, v in sorted(alert.labels.items())),
    ]
    key = f"am:{alert.fingerprint or name}:{alert.status}:{alert.startsAt}"
    # the key is stored, logged and sent in headers: control and non-ASCII characters escaped
    # (backslash too, so distinct keys stay distinct): a line break becomes the two characters \n
    key = key.encode("unicode_escape").decode("ascii")
    return Message(key[:200], title, tuple(x for x in lines if x), severity)


def create_app(
    settings: AlertsSettings | None = None,
    clock: Callable[[], datetime] = utcnow,
    rule_sets: Callable[[Path], RuleSets | None] = open_registry,
) -> Any:
    """``rule_sets`` opens the rule-set registry under ``FRAUDOPS_RULES_DIR`` (a test double in
    tests until fraudops.rules.registry is there)."""
    settings = settings or AlertsSettings()
    core = CoreSettings()
    keys = KeyRing.from_json(settings.api_keys)
    analysts = Analysts.from_json(settings.analysts)

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        engine = make_engine(core.database_url)
        upgrade(engine)
        sessions = session_factory(engine)
        client = redis_clients.from_settings(core, socket_timeout=10, socket_connect_timeout=2)
        channels = channels_from(settings)
        notifier = Notifier(channels, sessions, settings, clock)
        publisher = OutboxPublisher(client, sessions, core.key_prefix, settings)
        outbox = Worker("alerts-outbox", publisher.publish, settings.delivery_poll_s, log)
        notifier.on_dead = outbox.poke
        consumer = AlertConsumer(
            client,
            core.key_prefix,
            f"{socket.gethostname()}-{os.getpid()}",
            sessions,
            notifier,
            settings,
            clock,
            settings.public_url,
            shards=core.log_shards,
        )
        loop = Worker(
            "alerts-consumer",
            lambda: consumer.drain(max_batches=10, block_ms=settings.block_ms),
            0.05,
            log,
        )
        app.state.sessions, app.state.redis, app.state.notifier = sessions, client, notifier
        app.state.consumer, app.state.clock = consumer, clock
        app.state.http = httpx.Client(timeout=10)
        app.state.console_sessions = SessionStore(
            client, core.key_prefix, settings.session_max_age_s
        )
        app.state.login_throttle = LoginThrottle(client, core.key_prefix, settings)
        app.state.lists = ListStore(client, core.key_prefix)
        if not channels:
            log.warning(
                "no channel configured (webhook_url, smtp_host + email_to): alerts are "
                "stored for the console only"
            )
        outbox.start()
        notifier.start(log)
        loop.start()
        try:
            yield
        finally:
            loop.stop()
            notifier.stop()
            outbox.stop()
            app.state.login_verifier.close()
            app.state.http.close()
            client.close()
            engine.dispose()

    app = service_app(
        "fraudops alerts",
        "Alerts to the fraud team, the Alertmanager receiver and the console.",
        lifespan,
        keys,
        ERRORS,
    )
    app.state.analysts = analysts
    app.state.rules_dir = core.rules_root()  # FRAUDOPS_RULES_DIR, as scoring and the CLI take it
    app.state.rule_sets = rule_sets(app.state.rules_dir)
    app.include_router(lists_api.router)
    app.include_router(rules_api.router)
    app.state.login_verifier = BoundedVerifier(settings.login_concurrency, settings.login_queue)
    if analysts.outdated:
        log.warning(
            "%d analyst password hashes use fewer PBKDF2 iterations than %d: make them again "
            "with fraudops keys analyst", analysts.outdated, ITERATIONS,
        )  # fmt: skip
    app.state.feedback_url = settings.feedback_url.rstrip("/")
    app.state.feedback_key = secret(settings.feedback_api_key)
    if settings.session_secret is not None:
        # the console's forms are accepted from this origin only (services/alerts/csrf.py)
        app.state.console_origin = csrf.origin_of(settings.public_url)
        if app.state.console_origin is None:
            raise ValueError(
                f"FRAUDOPS_ALERTS_PUBLIC_URL {settings.public_url!r}: an http(s) URL is needed "
                "(the console accepts forms from its origin only)"
            )
        app.add_middleware(ConsoleSessions)  # inside SessionMiddleware: it reads the cookie's id
        app.add_middleware(
            SessionMiddleware,
            secret_key=settings.session_secret.get_secret_value(),
            session_cookie="fraudops_console",
            max_age=settings.session_max_age_s,
            same_site="strict",
            https_only=settings.secure_cookies,
        )
        app.include_router(console.router)
        app.include_router(console_lists.router)
        app.include_router(console_rules.router)
    else:
        log.warning("FRAUDOPS_ALERTS_SESSION_SECRET unset: the console is off")

    @app.post("/v1/alertmanager", responses={401: {}, 403: {}, 422: {}, 503: {}})
    def alertmanager(payload: AmWebhook, request: Request, _key: AlertmanagerKey) -> JSONResponse:
        """Operational alerts from Alertmanager, routed to the same channels (each firing or
        resolution of an alert is delivered once per channel). Answered once every alert's
        deliveries are durably queued (200, each channel's status: pending, sent or dead); the
        channels' workers deliver them. Each alert on its own: one that cannot be queued (the
        database away) makes the answer 503, and Alertmanager's retry queues only what was not
        queued before."""
        notifier: Notifier = request.app.state.notifier
        out: dict[str, dict[str, str]] = {}
        failed = False
        for alert in payload.alerts:
            OPERATIONAL.labels(alert.status).inc()
            message = operational_message(alert)
            try:
                out[message.key] = notifier.send(message)
            except Exception as exc:
                failed = True
                out[message.key] = {"error": type(exc).__name__}
                log.error("alertmanager alert %s not handled: %s", message.key, type(exc).__name__)
        return JSONResponse({"delivered": out}, status_code=503 if failed else 200)

    @app.get("/healthz")
    def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/readyz")
    def readyz(request: Request) -> JSONResponse:
        db_ok, redis_ok = reachable(request.app.state.sessions, request.app.state.redis)
        consumer: AlertConsumer = request.app.state.consumer
        trouble = consumer.trouble()  # failing: decisions raise no alert
        ready = db_ok and redis_ok and trouble is None
        body: dict[str, Any] = {"ready": ready, "database": db_ok, "redis": redis_ok,
                                "consumer": trouble is None}  # fmt: skip
        if trouble is not None:
            body["detail"] = trouble
        if draining():  # SIGTERM: the balancer takes this replica out (services.common.drain)
            body["ready"], body["detail"] = False, DRAINING_DETAIL
            ready = False
        return JSONResponse(body, status_code=200 if ready else 503)

    @app.get("/metrics", include_in_schema=False)
    def metrics() -> Response:
        return metrics_response()

    return BodyLimit(app, settings.max_body_bytes)
