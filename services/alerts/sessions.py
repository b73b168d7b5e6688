"""Server-side console sessions, so that a session can be ended: the signed cookie carries only a
random session id; the session itself (the analyst and their configured entry's fingerprint) is
a Redis key with a TTL of ``session_max_age_s``, looked up on every console request. Logout
deletes it, a login replaces it (a new id: no session fixation), and an analyst removed from
``FRAUDOPS_ALERTS_ANALYSTS`` (or given a new password hash) is no longer recognised."""

from __future__ import annotations

import hashlib
import json
import logging
import secrets
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response

from fraudops.redis_clients import UNAVAILABLE, SyncClient
from services.alerts.analysts import Analysts
from services.alerts.pages import templates

log = logging.getLogger("fraudops.alerts.sessions")
SID = "sid"  # the key of the session id in the signed cookie
REDIS_DOWN = (
    "The console's session store (Redis) is unreachable: nobody can log in or be recognised "
    "until it is back. Try again in a moment."
)
RETRY_AFTER_S = 5


class SessionStore:
    """Sessions in Redis under ``<prefix>:console:session:<sha256 of the id>`` (the ids
    themselves are stored nowhere, so reading Redis gives no live cookie)."""

    def __init__(self, client: SyncClient, prefix: str, max_age_s: int) -> None:
        self.client, self.prefix, self.max_age_s = client, prefix, max_age_s

    def _key(self, sid: str) -> str:
        return f"{self.prefix}:console:session:{hashlib.sha256(sid.encode()).hexdigest()}"

    def create(self, user: str, fingerprint: str) -> str:
        sid = secrets.token_urlsafe(32)
        row = json.dumps({"user": user, "fingerprint": fingerprint})
        self.client.set(self._key(sid), row, ex=self.max_age_s)
        return sid

    def user(self, sid: str, analysts: Analysts) -> str | None:
        """The analyst of a live session whose entry is still the configured one, else None
        (and a session that no longer matches the configuration is deleted)."""
        raw = self.client.get(self._key(sid))
        if raw is None:
            return None
        try:
            row = json.loads(raw)
            user = str(row["user"])
        except (ValueError, TypeError, KeyError):
            row, user = {}, ""
        if not user or analysts.fingerprint(user) != row.get("fingerprint"):
            self.client.delete(self._key(sid))
            return None
        return user

    def delete(self, sid: str) -> None:
        self.client.delete(self._key(sid))


def _store(request: Request) -> SessionStore:
    store: SessionStore = request.app.state.console_sessions
    return store


async def start(request: Request, user: str) -> None:
    """A new session for a logged-in analyst: any session the cookie held is deleted and the
    cookie gets a new id. Raises one of fraudops.redis_clients.UNAVAILABLE when Redis is away."""
    store = _store(request)
    old = request.session.get(SID)
    fingerprint = request.app.state.analysts.fingerprint(user)
    sid = await run_in_threadpool(store.create, user, fingerprint)
    if old:
        await run_in_threadpool(store.delete, str(old))
    request.session.clear()
    request.session[SID] = sid


async def end(request: Request) -> None:
    """Logout: the session is deleted in Redis, so a copy of the cookie is worth nothing; the
    cookie keeps nothing either (the CSRF token too is made anew, as after a login)."""
    sid = request.session.get(SID)
    if sid:
        await run_in_threadpool(_store(request).delete, str(sid))
    request.session.clear()


def unavailable(request: Request) -> Response:
    """The page for a console request that needs Redis while it is away: 503, never a 500."""
    return templates.TemplateResponse(
        request,
        "login.html",
        {"user": None, "error": REDIS_DOWN},
        status_code=503,
        headers={"Retry-After": str(RETRY_AFTER_S)},
    )


class ConsoleSessions:
    """ASGI middleware inside Starlette's SessionMiddleware: resolves the cookie's session id to
    the analyst (``request.state.console_user``, None when there is none or it was ended) for
    every /console request; when Redis is away such a request gets the 503 page."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http" or not scope["path"].startswith("/console"):
            await self.app(scope, receive, send)
            return
        session: dict[str, Any] = scope.get("session", {})
        session.pop("user", None)  # a cookie of the signed-cookie-only days names no session
        sid = session.get(SID)
        user = None
        if sid:
            state = scope["app"].state
            try:
                user = await run_in_threadpool(
                    state.console_sessions.user, str(sid), state.analysts
                )
            except UNAVAILABLE as exc:
                log.warning("console session not checked: %s", type(exc).__name__)
                await unavailable(Request(scope))(scope, receive, send)
                return
            if user is None:
                session.pop(SID, None)  # ended or no longer valid: the cookie forgets it
        scope.setdefault("state", {})["console_user"] = user
        await self.app(scope, receive, send)
