"""The console's rules pages over the rule-set registry (services/alerts/rulesets.py): the
versions with author, reason and time, the active one and its history, a version's text and
stored backtest, the diff of two versions, publishing a proposal (any analyst) and activating a
version or rolling back (an admin only: 403 for an analyst), each with a reason. Forms pass the
CSRF checks of services/alerts/csrf.py."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import redis
from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response
from starlette.concurrency import run_in_threadpool

from fraudops.rules.lists import ListError, ListStore
from services.alerts import csrf
from services.alerts.console import _login_redirect, _user
from services.alerts.console_lists import forbidden, role_of
from services.alerts.pages import templates
from services.alerts.rulesets import REFUSALS, RuleSets, backtest, decisions, refusal

router = APIRouter(prefix="/console/rules", include_in_schema=False)
MAX_REASON = 500
UNAVAILABLE = (
    "The rule-set registry (fraudops.rules.registry) is not installed in this service: "
    "no rules to show."
)


def _registry(request: Request) -> RuleSets | None:
    registry: RuleSets | None = request.app.state.rule_sets
    return registry


def _unavailable(request: Request, user: str) -> Response:
    return _render(request, user, "rules.html", {"versions": [], "active": None, "history": []},
                   UNAVAILABLE, False, 503)  # fmt: skip


def _render(request: Request, user: str, template: str, context: dict[str, Any],
            message: str | None, ok: bool, status: int) -> Response:  # fmt: skip
    return templates.TemplateResponse(
        request,
        template,
        {"user": user, "role": role_of(request, user), "message": message, "ok": ok, **context},
        status_code=status,
    )


def _index(request: Request, user: str, message: str | None = None, ok: bool = True,
           status: int = 200, draft: str = "") -> Response:  # fmt: skip
    registry = _registry(request)
    if registry is None:
        return _unavailable(request, user)
    aliases = registry.aliases()
    rows = [(v, registry.manifest(v)) for v in reversed(registry.versions())]
    context = {"versions": rows, "active": aliases.get("active"),
               "history": decisions(registry), "draft": draft}  # fmt: skip
    return _render(request, user, "rules.html", context, message, ok, status)


def _version(request: Request, user: str, version: str, message: str | None = None,
             ok: bool = True, status: int = 200) -> Response:  # fmt: skip
    registry = _registry(request)
    if registry is None:
        return _unavailable(request, user)
    if version not in registry.versions():
        return _index(request, user, f"No rule set {version[:40]!r}.", False, 404)
    manifest = registry.manifest(version)
    context = {"version": version, "text": registry.text(version), "manifest": manifest,
               "active": registry.aliases().get("active"),
               "lists": _lists_used(request, manifest.get("lists") or []),
               "backtest": backtest(registry, request.app.state.rules_dir, version)}  # fmt: skip
    return _render(request, user, "ruleset.html", context, message, ok, status)


def _lists_used(request: Request, names: list[str]) -> list[tuple[str, str]]:
    """Each list the set names (its manifest's ``lists``) and what the store holds of it: a
    missing list matches nothing, which an admin wants to know before activating."""
    store: ListStore = request.app.state.lists
    out = []
    for name in names:
        try:
            info = store.info(str(name))
            out.append((str(name), f"{info.kind}, {info.size} values"))
        except ListError:
            out.append((str(name), "missing: matches nothing"))
        except redis.RedisError as exc:
            out.append((str(name), f"unknown (Redis unreachable: {type(exc).__name__})"))
    return out


def _guard(request: Request) -> str | Response:
    user = _user(request)
    return user if user else _login_redirect()


@router.get("", response_class=HTMLResponse)
def index(request: Request) -> Response:
    user = _guard(request)
    return user if isinstance(user, Response) else _index(request, user)


@router.get("/diff", response_class=HTMLResponse)
def diff(request: Request, a: str = "", b: str = "") -> Response:
    user = _guard(request)
    if isinstance(user, Response):
        return user
    registry = _registry(request)
    if registry is None:
        return _unavailable(request, user)
    unknown = [v for v in (a, b) if v not in registry.versions()]
    if unknown:
        return _index(request, user, f"No rule set {unknown[0][:40]!r} to compare.", False, 404)
    lines = registry.diff(a, b).splitlines()
    context = {"a": a, "b": b, "lines": lines}
    return _render(request, user, "rules_diff.html", context, None, True, 200)


@router.get("/{version}", response_class=HTMLResponse)
def version_page(request: Request, version: str) -> Response:
    user = _guard(request)
    return user if isinstance(user, Response) else _version(request, user, version)


def _reason(form: dict[str, str]) -> str | None:
    reason = form.get("reason", "").strip()
    return reason if 0 < len(reason) <= MAX_REASON else None


def _publish(request: Request, user: str, form: dict[str, str]) -> Response:
    registry = _registry(request)
    if registry is None:
        return _unavailable(request, user)
    text, reason = form.get("text", ""), _reason(form)
    if reason is None:
        message = f"A proposal needs a reason (1-{MAX_REASON} characters)."
        return _index(request, user, message, False, 422, text)
    try:
        version = registry.publish(text, user, reason)
    except REFUSALS as exc:  # the registry's RuleError (line, column) and other refusals
        return _index(request, user, f"Not published: {refusal(exc)}", False, 422, text)
    return _version(request, user, version, f"Published {version} (not active).", True)


async def _admin_action(request: Request, action: Callable[[RuleSets, str, str], str],
                        what: str, version: str | None = None) -> Response:  # fmt: skip
    user = _guard(request)
    if isinstance(user, Response):
        return user
    form = await csrf.form(request)
    if role_of(request, user) != "admin":
        return forbidden(what, user)

    def run() -> Response:
        registry = _registry(request)
        if registry is None:
            return _unavailable(request, user)
        if version is not None and version not in registry.versions():
            return _index(request, user, f"No rule set {version[:40]!r}.", False, 404)
        reason = _reason(form)
        if reason is None:
            message = f"This needs a reason (1-{MAX_REASON} characters)."
            return _index(request, user, message, False, 422)
        try:
            message = action(registry, user, reason)
        except REFUSALS as exc:
            return _index(request, user, f"Refused: {refusal(exc)}", False, 422)
        return _index(request, user, message, True)

    page: Response = await run_in_threadpool(run)
    return page


@router.post("", response_class=HTMLResponse)
async def publish(request: Request) -> Response:
    user = _guard(request)
    if isinstance(user, Response):
        return user
    form = await csrf.form(request)
    page: Response = await run_in_threadpool(_publish, request, user, form)
    return page


@router.post("/rollback", response_class=HTMLResponse)
async def rollback(request: Request) -> Response:
    def act(registry: RuleSets, user: str, reason: str) -> str:
        registry.rollback(user, reason)
        return f"Rolled back: {registry.aliases().get('active') or 'no rule set'} is active."

    return await _admin_action(request, act, "rolls rule sets back")


@router.post("/{version}/activate", response_class=HTMLResponse)
async def activate(request: Request, version: str) -> Response:
    def act(registry: RuleSets, user: str, reason: str) -> str:
        registry.activate(version, user, reason)
        return f"{version} is active."

    return await _admin_action(request, act, "activates a rule set", version)
