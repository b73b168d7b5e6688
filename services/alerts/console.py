"""The fraud team's console: log in, the alert queue, one alert (transaction, score, reasons,
profiles at scoring time) with fraud / legitimate buttons that post an analyst label to the
feedback service, and a monitoring view. Server-rendered HTML (Jinja2, autoescaped)."""

from __future__ import annotations

import json
import unicodedata
from typing import Any

import httpx
from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy import select
from starlette.concurrency import run_in_threadpool

from fraudops.features import FEATURE_NAMES
from fraudops.redis_clients import UNAVAILABLE
from services.alerts import charts, csrf, login_throttle, sessions
from services.alerts.db import Alert, get_alert
from services.alerts.metrics import LABELS
from services.alerts.pages import templates
from services.common import actors

router = APIRouter(prefix="/console", include_in_schema=False)
QUEUE_LIMIT = 500


def _user(request: Request) -> str | None:
    """The analyst of the request's live server-side session (services.alerts.sessions)."""
    user = getattr(request.state, "console_user", None)
    return str(user) if user else None


def _login_redirect() -> RedirectResponse:
    return RedirectResponse("/console/login", status_code=303)


@router.get("/login", response_class=HTMLResponse)
async def login_page(request: Request) -> Response:
    return templates.TemplateResponse(request, "login.html", {"user": None, "error": None})


@router.post("/login", response_class=HTMLResponse)
async def login(request: Request) -> Response:
    form = await csrf.form(request)
    # the configured name's form (NFC), as the analyst list and the session keep it
    username = unicodedata.normalize("NFC", form.get("username", ""))
    try:
        refusal = await login_throttle.attempt(request, username, form.get("password", ""))
        if refusal is None:
            await sessions.start(request, username)
    except UNAVAILABLE:
        return sessions.unavailable(request)
    if refusal is not None:
        return templates.TemplateResponse(
            request,
            "login.html",
            {"user": None, "error": refusal.message},
            status_code=refusal.status,
            headers=refusal.headers,
        )
    return RedirectResponse("/console", status_code=303)


@router.get("/logout", response_class=HTMLResponse)
def logout_page(request: Request) -> Response:
    """A page with the log out button: a GET never logs out (any page could link to it)."""
    if not _user(request):
        return _login_redirect()
    return templates.TemplateResponse(request, "logout.html", {"user": _user(request)})


@router.post("/logout")
async def logout(request: Request) -> Response:
    await csrf.form(request)  # a forged POST must not end the analyst's session either
    try:
        await sessions.end(request)
    except UNAVAILABLE:
        return sessions.unavailable(request)
    return _login_redirect()


@router.get("", response_class=HTMLResponse)
def queue(request: Request, status: str = "open") -> Response:
    user = _user(request)
    if not user:
        return _login_redirect()
    stmt = select(Alert).order_by(Alert.timestamp.desc()).limit(QUEUE_LIMIT)
    if status == "open":
        stmt = stmt.where(Alert.status == "open")
    with request.app.state.sessions() as s:
        alerts = list(s.scalars(stmt))
    return templates.TemplateResponse(
        request, "queue.html", {"user": user, "alerts": alerts, "status": status}
    )


def _profiles(features: list[Any]) -> list[tuple[str, list[tuple[str, Any]]]]:
    named = list(zip(FEATURE_NAMES, features, strict=False))
    groups = [("Customer profile", "customer_"), ("Terminal profile", "terminal_")]
    out = [(title, [(n, _fmt(v)) for n, v in named if n.startswith(p)]) for title, p in groups]
    out.append(
        (
            "Payment",
            [(n, _fmt(v)) for n, v in named if not n.startswith(("customer_", "terminal_"))],
        )
    )
    return out


def _fmt(v: Any) -> Any:
    return f"{v:,.3f}".rstrip("0").rstrip(".") if isinstance(v, float) else v


def _alert_page(request: Request, alert_id: int, message: str | None, ok: bool) -> Response:
    user = _user(request)
    if not user:
        return _login_redirect()
    with request.app.state.sessions() as s:
        a = get_alert(s, alert_id)
    if a is None:
        return HTMLResponse("<p>No such alert.</p>", status_code=404)
    return templates.TemplateResponse(
        request,
        "alert.html",
        {
            "user": user,
            "a": a,
            "reasons": json.loads(a.reasons or "[]"),
            "profiles": _profiles(json.loads(a.features or "[]")),
            "message": message,
            "ok": ok,
        },
    )


@router.get("/alerts/{alert_id}", response_class=HTMLResponse)
def alert_page(request: Request, alert_id: int) -> Response:
    return _alert_page(request, alert_id, None, True)


def _post_label(request: Request, alert_id: int, label: str, user: str) -> tuple[str, bool]:
    state = request.app.state
    with state.sessions() as s:
        a = get_alert(s, alert_id)
        if a is None:
            return "No such alert.", False
        tx = a.transaction_id
    if state.feedback_key is None:
        return "Labels are disabled: FRAUDOPS_ALERTS_FEEDBACK_API_KEY is not set.", False
    try:
        r = state.http.post(
            f"{state.feedback_url}/v1/feedback",
            json={"transaction_id": tx, "label": label, "source": "analyst"},
            headers={
                "Authorization": f"Bearer {state.feedback_key}",
                "X-Fraudops-Actor": actors.to_header(user),
            },
        )
    except httpx.HTTPError as exc:
        return f"The feedback service is unreachable ({type(exc).__name__}); nothing stored.", False
    if r.status_code not in (200, 201):
        detail = r.json().get("detail") if "json" in r.headers.get("content-type", "") else r.text
        return f"The feedback service refused the label ({r.status_code}): {detail}", False
    body = r.json()
    with state.sessions.begin() as s:
        a = s.get(Alert, alert_id)
        a.status, a.labelled_by, a.labelled_at = label, user, state.clock()
    LABELS.labels(label).inc()
    again = " (already recorded)" if body.get("duplicate") else ""
    return (
        f"Label stored: {label}{again}, event #{body['event']['event_id']}; effective label "
        f"{body['effective_label']} ({body['effective_source']})."
    ), True


@router.post("/alerts/{alert_id}/label", response_class=HTMLResponse)
async def label(request: Request, alert_id: int) -> Response:
    user = _user(request)
    if not user:
        return _login_redirect()
    value = (await csrf.form(request)).get("label")
    if value not in ("fraud", "legit"):
        return HTMLResponse("<p>label must be fraud or legit</p>", status_code=422)
    message, ok = await run_in_threadpool(_post_label, request, alert_id, value, user)
    return await run_in_threadpool(_alert_page, request, alert_id, message, ok)


def _monitoring(request: Request) -> tuple[dict[str, Any], str | None]:
    state = request.app.state
    if state.feedback_key is None:
        return {}, "Monitoring needs FRAUDOPS_ALERTS_FEEDBACK_API_KEY (scope monitoring)."
    try:
        r = state.http.get(
            f"{state.feedback_url}/v1/monitoring",
            headers={"Authorization": f"Bearer {state.feedback_key}"},
        )
    except httpx.HTTPError as exc:
        return {}, f"The feedback service is unreachable ({type(exc).__name__})."
    if r.status_code != 200:
        return {}, f"The feedback service answered {r.status_code}."
    return r.json(), None


@router.get("/monitoring", response_class=HTMLResponse)
def monitoring(request: Request) -> Response:
    user = _user(request)
    if not user:
        return _login_redirect()
    m, error = _monitoring(request)
    rows = m.get("timeline") or []
    return templates.TemplateResponse(
        request,
        "monitoring.html",
        {
            "user": user,
            "m": m,
            "q": m.get("quality") or {},
            "error": error,
            "decisions_svg": charts.stacked_bars(
                rows, ("approve", "review", "decline"), "decisions"
            ),
            "scores_svg": charts.line([r["mean_score"] for r in rows], "mean score"),
            "drift_svg": charts.hbars(m.get("psi") or {}, "feature PSI", 0.25),
        },
    )
