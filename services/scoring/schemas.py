"""Request and response shapes of the scoring API (the request is the canonical transaction)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from fraudops.schema import Transaction


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
