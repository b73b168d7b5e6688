"""The console's named-list pages: every list, one list's values with add / remove forms (a
reason each) and its audit trail, create and delete. Any analyst manages values and creates
lists; deleting a list is for an admin (a rule naming it would match nothing). Forms pass the
CSRF checks of services/alerts/csrf.py; the change is recorded under the analyst's name."""

from __future__ import annotations

from typing import Any

import redis
from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response
from markupsafe import Markup
from starlette.concurrency import run_in_threadpool

from fraudops.rules.lists import KINDS, ListError, ListStore, NoSuchList
from services.alerts import csrf
from services.alerts.console import _login_redirect, _user
from services.alerts.pages import templates

router = APIRouter(prefix="/console/lists", include_in_schema=False)
SHOWN = 1000  # values listed on a list's page
AUDIT_SHOWN = 100


def role_of(request: Request, user: str) -> str:
    role: str | None = request.app.state.analysts.role(user)
    return role or "analyst"


def forbidden(what: str, user: str) -> Response:
    """403 for an analyst trying what only an admin does."""
    return HTMLResponse(
        Markup("<p>{}</p>").format(f"Only an admin {what}; {user} is an analyst (ask an admin)."),
        status_code=403,
    )


def _store(request: Request) -> ListStore:
    store: ListStore = request.app.state.lists
    return store


def _redis_down(exc: redis.RedisError) -> str:
    return f"The lists' store (Redis) is unreachable ({type(exc).__name__}): nothing changed."


def _index(request: Request, user: str, message: str | None, ok: bool, status: int) -> Response:
    try:
        found, version = _store(request).lists(), _store(request).version()
    except redis.RedisError as exc:
        found, version, message, ok, status = [], None, _redis_down(exc), False, 503
    return templates.TemplateResponse(
        request,
        "lists.html",
        {"user": user, "role": role_of(request, user), "lists": found, "version": version,
         "kinds": KINDS, "message": message, "ok": ok},
        status_code=status,
    )  # fmt: skip


def _page(request: Request, user: str, name: str, message: str | None, ok: bool,
          status: int) -> Response:  # fmt: skip
    store = _store(request)
    try:
        info = store.info(name)
        values = sorted(store.members(name))
        audit = store.audit(name, AUDIT_SHOWN)
    except ListError as exc:  # no such list (deleted meanwhile) or a name no list can have
        return _index(request, user, message or str(exc), ok and message is not None, exc.status)
    except redis.RedisError as exc:
        return _index(request, user, _redis_down(exc), False, 503)
    return templates.TemplateResponse(
        request,
        "list.html",
        {"user": user, "role": role_of(request, user), "info": info, "values": values[:SHOWN],
         "audit": audit, "message": message, "ok": ok},
        status_code=status,
    )  # fmt: skip


@router.get("", response_class=HTMLResponse)
def index(request: Request) -> Response:
    user = _user(request)
    if not user:
        return _login_redirect()
    return _index(request, user, None, True, 200)


@router.get("/{name}", response_class=HTMLResponse)
def page(request: Request, name: str) -> Response:
    user = _user(request)
    if not user:
        return _login_redirect()
    return _page(request, user, name, None, True, 200)


def _change(request: Request, user: str, form: dict[str, str], action: str, name: str) -> Any:
    """One change of the forms; the page to answer (the list's, or the index after create and
    delete, with what happened or why nothing did)."""
    store, reason = _store(request), form.get("reason", "")
    try:
        if action == "create":
            name = form.get("name", "").strip()
            store.create(name, form.get("kind", ""), user, reason)
            return _page(request, user, name, f"List {name!r} created.", True, 200)
        if action == "delete":
            change = store.delete(name, user, reason)
            message = f"List {name!r} deleted (version {change.version})."
            return _index(request, user, message, True, 200)
        values = form.get("values", "").split()  # ids, codes and ranges hold no white space
        change = getattr(store, action)(name, values, user, reason)
        done = "added" if action == "add" else "removed"
        message = (
            f"{len(change.changed)} value(s) {done}: {', '.join(change.changed)} "
            f"(version {change.version})."
            if change.changed
            else f"Nothing {done}: the list already {'had' if done == 'added' else 'lacked'} "
            "every value given."
        )
        return _page(request, user, name, message, True, 200)
    except NoSuchList as exc:
        return _index(request, user, str(exc), False, exc.status)
    except ListError as exc:
        if action == "create":
            return _index(request, user, str(exc), False, exc.status)
        return _page(request, user, name, str(exc), False, exc.status)
    except redis.RedisError as exc:
        return _index(request, user, _redis_down(exc), False, 503)


@router.post("", response_class=HTMLResponse)
async def create(request: Request) -> Response:
    user = _user(request)
    if not user:
        return _login_redirect()
    form = await csrf.form(request)
    page: Response = await run_in_threadpool(_change, request, user, form, "create", "")
    return page


@router.post("/{name}/{action}", response_class=HTMLResponse)
async def change(request: Request, name: str, action: str) -> Response:
    user = _user(request)
    if not user:
        return _login_redirect()
    if action not in ("add", "remove", "delete"):
        return HTMLResponse("<p>No such action.</p>", status_code=404)
    form = await csrf.form(request)
    if action == "delete" and role_of(request, user) != "admin":
        return forbidden("deletes a list", user)
    page: Response = await run_in_threadpool(_change, request, user, form, action, name)
    return page
