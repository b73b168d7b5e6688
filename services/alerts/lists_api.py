"""The named lists' JSON API (``/v1/lists``) for tools and scripts, with the service's API keys:
scope ``lists:read`` to read, ``lists:write`` to create lists and add or remove values,
``lists:admin`` to delete a list. The change is recorded as made by ``key:<key name>``. The
console's list pages (services/alerts/console_lists.py) make the same changes for analysts."""

from __future__ import annotations

from typing import Annotated, Any

import redis
from fastapi import APIRouter, Depends, HTTPException, Query, Request
from pydantic import BaseModel, ConfigDict, Field
from starlette.concurrency import run_in_threadpool

from fraudops.rules.lists import MAX_REASON, MAX_VALUES, AuditEntry, ListError, ListInfo, ListStore
from services.common.auth import ApiKey, require

router = APIRouter(prefix="/v1/lists", tags=["lists"])
Reader = Annotated[ApiKey, Depends(require("lists:read"))]
Writer = Annotated[ApiKey, Depends(require("lists:write"))]
Admin = Annotated[ApiKey, Depends(require("lists:admin"))]
ERRORS: dict[int | str, dict[str, Any]] = {401: {}, 403: {}, 404: {}, 409: {}, 422: {}, 503: {}}


class NewList(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str = Field(max_length=63, description="[a-z][a-z0-9_]{0,62}")
    kind: str = Field(description="customer, terminal, country, mcc or bin_range")
    reason: str = Field(max_length=MAX_REASON)


class Values(BaseModel):
    model_config = ConfigDict(extra="forbid")
    values: list[str] = Field(min_length=1, max_length=MAX_VALUES)
    reason: str = Field(max_length=MAX_REASON)


def info_json(i: ListInfo) -> dict[str, Any]:
    return {"name": i.name, "kind": i.kind, "size": i.size, "created_by": i.created_by,
            "created_at": i.created_at.isoformat()}  # fmt: skip


def audit_json(e: AuditEntry) -> dict[str, Any]:
    return {"id": e.id, "when": e.when.isoformat(), "who": e.who, "action": e.action,
            "values": list(e.values), "reason": e.reason, "count": e.count,
            "version": e.version}  # fmt: skip


async def call(request: Request, method: str, *args: Any) -> Any:
    """``ListStore.<method>(*args)`` off the event loop; a refused change is its 4xx, Redis away
    a 503."""
    store: ListStore = request.app.state.lists
    try:
        return await run_in_threadpool(getattr(store, method), *args)
    except ListError as exc:
        raise HTTPException(exc.status, str(exc)) from None
    except redis.RedisError as exc:
        detail = f"the lists' store (Redis) is unreachable: {type(exc).__name__}"
        raise HTTPException(503, detail) from None


def who(key: ApiKey) -> str:
    return f"key:{key.name}"


@router.get("", responses=ERRORS)
async def lists(request: Request, _key: Reader) -> dict[str, Any]:
    """Every list (name, kind, size, created by and at) and the lists' version."""
    found: list[ListInfo] = await call(request, "lists")
    version: int = await call(request, "version")
    return {"version": version, "lists": [info_json(i) for i in found]}


@router.post("", status_code=201, responses=ERRORS)
async def create(body: NewList, request: Request, key: Writer) -> dict[str, Any]:
    change = await call(request, "create", body.name, body.kind, who(key), body.reason)
    return {"name": body.name, "kind": body.kind, "version": change.version}


@router.get("/{name}", responses=ERRORS)
async def members(name: str, request: Request, _key: Reader) -> dict[str, Any]:
    info: ListInfo = await call(request, "info", name)
    values: frozenset[str] = await call(request, "members", name)
    return {**info_json(info), "values": sorted(values)}


@router.post("/{name}/add", responses=ERRORS)
async def add(name: str, body: Values, request: Request, key: Writer) -> dict[str, Any]:
    """Adds the values (checked against the list's kind: a refused one is a 422 naming it);
    ``added`` are those that were not there yet."""
    change = await call(request, "add", name, body.values, who(key), body.reason)
    return {"version": change.version, "added": list(change.changed)}


@router.post("/{name}/remove", responses=ERRORS)
async def remove(name: str, body: Values, request: Request, key: Writer) -> dict[str, Any]:
    change = await call(request, "remove", name, body.values, who(key), body.reason)
    return {"version": change.version, "removed": list(change.changed)}


@router.delete("/{name}", responses=ERRORS)
async def delete(
    name: str, request: Request, key: Admin, reason: Annotated[str, Query(max_length=MAX_REASON)]
) -> dict[str, Any]:
    change = await call(request, "delete", name, who(key), reason)
    return {"version": change.version}


@router.get("/{name}/audit", responses=ERRORS)
async def audit(
    name: str, request: Request, _key: Reader, limit: Annotated[int, Query(ge=1, le=1000)] = 100
) -> dict[str, Any]:
    """The list's changes, newest first (kept after the list is deleted)."""
    entries: list[AuditEntry] = await call(request, "audit", name, limit)
    return {"name": name, "audit": [audit_json(e) for e in entries]}
