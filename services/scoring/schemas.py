"""Request and response shapes of the scoring API (the request is the canonical transaction)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from fraudops.schema import Transaction
from services.common.ratelimit import RESPONSE_429


class Reason(BaseModel):
    feature: str
    value: float | str
    contribution: float = Field(description="log-odds the feature added to the score")


class ScoreResponse(BaseModel):
    transaction_id: str
    score: float = Field(ge=0, le=1)
    decision: Literal["approve", "review", "decline"]
    model_version: str
    reasons: list[Reason] = Field(description="the 3 features that raised the score most")
    degraded: bool = Field(description="true: profiles unavailable, request-only features")
    rules: list[str] = Field(
        default_factory=list,
        description="the fraud team's rules that fired on this payment, in the rule set's order "
        "(docs/rules.md: an allow rule beats a decline, a decline beats a review)",
    )


class ErrorBody(BaseModel):
    detail: str


class InvalidBody(BaseModel):
    detail: list[dict[str, Any]] = Field(description="every problem, with its location")
    message: str = Field(description="the first bad field and what is wrong with it")


ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    401: {"model": ErrorBody, "description": "missing or unknown API key"},
    403: {"model": ErrorBody, "description": "key without the score scope"},
    409: {"model": ErrorBody, "description": "the same transaction_id is being scored; retry"},
    413: {"model": ErrorBody, "description": "body too large"},
    415: {"model": ErrorBody, "description": "Content-Type is not application/json"},
    422: {"model": InvalidBody, "description": "invalid input; `message` names the field"},
    429: RESPONSE_429,
    503: {"model": ErrorBody, "description": "no model loaded"},
}


class BatchRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    transactions: list[Transaction] = Field(min_length=1, max_length=1000)


class BatchResponse(BaseModel):
    results: list[ScoreResponse]


class Health(BaseModel):
    status: str


class Ready(BaseModel):
    ready: bool
    model_version: str | None
    redis: bool
    detail: str | None = None


def future_dated(
    txs: Sequence[Transaction], now: float, max_ahead_s: float, batch: bool
) -> list[dict[str, Any]]:
    """The validation error of the first payment dated more than ``max_ahead_s`` after ``now``,
    if any (located as FastAPI locates errors in the body).

    Profiles are pruned at an event's own time, so one payment dated next year would drop every
    minute and hour bucket of its customer: an evasion path, refused at the edge."""
    for i, tx in enumerate(txs):
        if tx.timestamp.timestamp() > now + max_ahead_s:
            where = ("transactions", i, "timestamp") if batch else ("timestamp",)
            msg = f"more than {max_ahead_s:g} s ahead of the server clock"
            return [{"type": "value_error", "loc": ("body", *where), "msg": msg}]
    return []
