"""The rule sets' JSON API (``/v1/rules``) for the fraud team's tools, with the service's API
keys: scope ``rules:read`` to read versions, texts, diffs and the decision log, ``rules:write``
to publish a version (a proposal: it does nothing until activated), ``rules:admin`` to activate,
roll back or deactivate (the emergency switch: the model alone). As on the console's rules pages
(services/alerts/console_rules.py), every change carries a reason and is recorded as made by
``key:<key name>``; a text that does not compile is a 422 naming its line and column. The
scoring workers pick an activation up within their poll interval (~1 s)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Request
from pydantic import BaseModel, ConfigDict, Field
from starlette.concurrency import run_in_threadpool

from services.alerts.rulesets import REFUSALS, RuleSets, backtest, decisions, refusal
from services.common.auth import ApiKey, require

router = APIRouter(prefix="/v1/rules", tags=["rules"])
Reader = Annotated[ApiKey, Depends(require("rules:read"))]
Writer = Annotated[ApiKey, Depends(require("rules:write"))]
Admin = Annotated[ApiKey, Depends(require("rules:admin"))]
ERRORS: dict[int | str, dict[str, Any]] = {401: {}, 403: {}, 404: {}, 422: {}, 503: {}}
MAX_REASON = 500
MAX_TEXT = 200_000


class Reason(BaseModel):
    model_config = ConfigDict(extra="forbid")
    reason: str = Field(min_length=1, max_length=MAX_REASON)


class Proposal(Reason):
    text: str = Field(min_length=1, max_length=MAX_TEXT, description="the rule set's text")


async def call(request: Request, fn: Callable[[RuleSets], Any]) -> Any:
    """``fn(registry)`` off the event loop; an unknown version is a 404, any other refusal (a
    rule that does not compile, nothing to roll back to) a 422 naming it."""
    registry: RuleSets | None = request.app.state.rule_sets
    if registry is None:
        raise HTTPException(503, "the rule-set registry is not installed in this service")
    try:
        return await run_in_threadpool(fn, registry)
    except REFUSALS as exc:
        unknown = "not found" in str(exc) or isinstance(exc, LookupError)
        raise HTTPException(404 if unknown else 422, refusal(exc)) from None


def who(key: ApiKey) -> str:
    return f"key:{key.name}"


@router.get("", responses=ERRORS)
async def versions(request: Request, _key: Reader) -> dict[str, Any]:
    """Every version (author, reason, time), the active one and the decision log, newest first."""

    def read(r: RuleSets) -> dict[str, Any]:
        rows = [{"version": v, **r.manifest(v)} for v in reversed(r.versions())]
        return {"active": r.aliases().get("active"), "versions": rows, "log": decisions(r)}

    result: dict[str, Any] = await call(request, read)
    return result


@router.post("", status_code=201, responses=ERRORS)
async def publish(body: Proposal, request: Request, key: Writer) -> dict[str, Any]:
    """Stores the text as the next version, not active."""
    version = await call(request, lambda r: r.publish(body.text, who(key), body.reason))
    return {"version": version}


@router.get("/{version}", responses=ERRORS)
async def version(version: str, request: Request, _key: Reader) -> dict[str, Any]:
    """A version's text, manifest and stored backtest (null when none was saved)."""
    root = request.app.state.rules_dir

    def read(r: RuleSets) -> dict[str, Any]:
        manifest = r.manifest(version)
        return {"version": version, **manifest, "text": r.text(version),
                "backtest": backtest(r, root, version)}  # fmt: skip

    result: dict[str, Any] = await call(request, read)
    return result


@router.get("/{a}/diff/{b}", responses=ERRORS)
async def diff(a: str, b: str, request: Request, _key: Reader) -> dict[str, str]:
    return {"from": a, "to": b, "diff": await call(request, lambda r: r.diff(a, b))}


@router.post("/{version}/activate", responses=ERRORS)
async def activate(version: str, body: Reason, request: Request, key: Admin) -> dict[str, Any]:
    await call(request, lambda r: r.activate(version, who(key), body.reason))
    return {"active": version}


@router.post("/rollback", responses=ERRORS)
async def rollback(body: Reason, request: Request, key: Admin) -> dict[str, Any]:
    """``active`` back to the version active before it."""
    await call(request, lambda r: r.rollback(who(key), body.reason))
    return {"active": await call(request, lambda r: r.aliases().get("active"))}


@router.post("/deactivate", responses=ERRORS)
async def deactivate(body: Reason, request: Request, key: Admin) -> dict[str, Any]:
    """No active rule set: the model alone decides until a version is activated again."""
    await call(request, lambda r: r.deactivate(who(key), body.reason))
    return {"active": None}
