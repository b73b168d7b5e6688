"""Labels in (``POST /v1/feedback``) and a transaction's label history out."""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Header, HTTPException
from fastapi.responses import JSONResponse
from sqlalchemy.orm import Session, sessionmaker

from fraudops.redis_clients import SyncClient
from services.common.ratelimit import RESPONSE_429, Limited, RateLimiter
from services.feedback import store
from services.feedback.background import catch_up, push_labels
from services.feedback.db import LabelEvent
from services.feedback.deps import (
    Authorization,
    ClockDep,
    IngestorDep,
    LabelReader,
    LimiterDep,
    PolicyDep,
    ProfileSyncDep,
    RedisDep,
    Sessions,
)
from services.feedback.metrics import ERRORS, LABELS, REQUEST_SECONDS
from services.feedback.policy import Caller
from services.feedback.schemas import FeedbackRequest, FeedbackResponse, LabelEventOut, LabelHistory

router = APIRouter()
_POST = REQUEST_SECONDS.labels("feedback")


def _event_out(e: LabelEvent) -> LabelEventOut:
    return LabelEventOut(
        event_id=e.id, label=e.label, source=e.source, actor=e.actor, arrived_at=e.arrived_at
    )


def _record(
    sessions: sessionmaker[Session], body: FeedbackRequest, caller: Caller,
    clock: Callable[[], datetime],
) -> store.Recorded:  # fmt: skip
    """Store the label in its own transaction (raises store.UnknownTransaction, or NotOwner);
    the arrival is read from ``clock`` once the payment is locked."""
    with sessions.begin() as session:
        return store.record_label(session, body.transaction_id, body.label, body.source,
                                  caller.actor, clock, caller.owner)  # fmt: skip


def _rate_limit(limiter: RateLimiter, client: SyncClient, caller: Caller) -> JSONResponse | None:
    """429 past the caller's limit: per API key, or per card holder for a user token (the
    metric and the answer name no customer)."""
    if caller.key is not None:
        check = limiter.check("key", caller.key, f"API key '{caller.key}'")
    else:
        check = limiter.check("user", str(caller.owner), "a user token", label="user")
    try:
        limiter.enforce(client, check)
    except Limited as no:
        ERRORS.labels("rate_limited").inc()
        return JSONResponse(no.body, status_code=429, headers=no.headers)
    return None


def _unknown(body: FeedbackRequest, caller: Caller, exc: store.UnknownTransaction) -> HTTPException:
    """404 for a payment never scored. To a card holder someone else's payment is unknown too,
    answered alike (status, body, and the same work before it: the scoring log is taken first
    in both cases), so a user token cannot learn which transaction ids exist."""
    ERRORS.labels("not_owner" if isinstance(exc, store.NotOwner) else "unknown_transaction").inc()
    if caller.owner is not None:
        return HTTPException(404, "no scored payment of this customer has this transaction_id")
    return HTTPException(404, f"transaction_id {body.transaction_id!r} was never scored")


@router.post(
    "/v1/feedback",
    response_model=FeedbackResponse,
    status_code=201,
    responses={
        200: {"model": FeedbackResponse, "description": "the same label was already recorded"},
        401: {"description": "missing/unknown key, or a bad/expired/forged user token"},
        403: {"description": "key without the source's scope"},
        404: {"description": "transaction never scored (user token: or not the customer's)"},
        413: {"description": "body too large"},
        422: {"description": "invalid body"},
        429: RESPONSE_429,
        503: {"description": "database unavailable (nothing stored; retry)"},
    },
)
def feedback(
    body: FeedbackRequest,
    sessions: Sessions,
    policy: PolicyDep,
    clock: ClockDep,
    ingestor: IngestorDep,
    profile_sync: ProfileSyncDep,
    limiter: LimiterDep,
    client: RedisDep,
    authorization: Authorization = None,
    x_fraudops_actor: Annotated[str | None, Header()] = None,
) -> JSONResponse:
    started = time.perf_counter()
    caller = policy.labeller(body.source, authorization, x_fraudops_actor)
    if refused := _rate_limit(limiter, client, caller):
        return refused
    try:
        rec = _record(sessions, body, caller, clock)
    except store.UnknownTransaction:
        catch_up(ingestor)  # the scoring log may be a moment behind the label
        try:
            rec = _record(sessions, body, caller, clock)
        except store.UnknownTransaction as exc:
            raise _unknown(body, caller, exc) from None
    if rec.changed:
        push_labels(profile_sync)  # Redis down: the background loop retries
    LABELS.labels(body.source, body.label, "created" if rec.created else "duplicate").inc()
    out = FeedbackResponse(
        transaction_id=body.transaction_id,
        event=_event_out(rec.event),
        duplicate=not rec.created,
        effective_label=rec.effective.label,
        effective_source=rec.effective.source,
    )
    _POST.observe(time.perf_counter() - started)
    return JSONResponse(out.model_dump(mode="json"), status_code=201 if rec.created else 200)


@router.get("/v1/feedback/{transaction_id}", response_model=LabelHistory)
def label_history(transaction_id: str, sessions: Sessions, _reader: LabelReader) -> LabelHistory:
    with sessions() as session:
        events = store.history(session, transaction_id)
    winner = store.effective_of(events)
    return LabelHistory(
        transaction_id=transaction_id,
        effective_label=winner.label if winner else None,
        effective_source=winner.source if winner else None,
        events=[_event_out(e) for e in events],
    )
