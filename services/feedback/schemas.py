"""Request and response bodies of the feedback API."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from fraudops.schema import Id

Label = Literal["fraud", "legit"]
Source = Literal["in_app", "chargeback", "analyst"]


class FeedbackRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    transaction_id: Id
    label: Label
    source: Source


class LabelEventOut(BaseModel):
    event_id: int
    label: Label
    source: Source
    actor: str
    arrived_at: datetime


class FeedbackResponse(BaseModel):
    transaction_id: str
    event: LabelEventOut
    duplicate: bool = Field(description="the same label from this source was already recorded")
    effective_label: Label
    effective_source: Source


class LabelHistory(BaseModel):
    transaction_id: str
    effective_label: Label | None
    effective_source: Source | None
    events: list[LabelEventOut]


class Health(BaseModel):
    status: Literal["ok"]


class Ready(BaseModel):
    ready: bool
    database: bool
    redis: bool
    consumer: bool = Field(description="the scoring-log consumer is not failing drain after drain")
    detail: str | None = None
