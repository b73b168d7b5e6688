"""What the routes are given: the settings, the clock and the label policy (set by create_app),
the session factory, Redis and the background consumers (set by the lifespan), and the
authenticated readers. Plain attribute reads, so ``async``: no threadpool hop per request."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Annotated, cast

from fastapi import Depends, Header, Request
from sqlalchemy.orm import Session, sessionmaker

from fraudops.redis_clients import SyncClient
from services.common.auth import ApiKey
from services.common.ratelimit import RateLimiter
from services.feedback.ingest import ScoringLogIngestor
from services.feedback.monitoring import Monitor
from services.feedback.policy import LabelPolicy
from services.feedback.profiles import ProfileLabelSync
from services.feedback.settings import FeedbackSettings

Authorization = Annotated[str | None, Header()]
LABEL_READERS = {"labels:read", "label:analyst"}
MONITORING_READERS = {*LABEL_READERS, "monitoring"}


async def get_settings(request: Request) -> FeedbackSettings:
    return cast(FeedbackSettings, request.app.state.settings)


async def get_clock(request: Request) -> Callable[[], datetime]:
    return cast(Callable[[], datetime], request.app.state.clock)


async def get_policy(request: Request) -> LabelPolicy:
    return cast(LabelPolicy, request.app.state.policy)


async def get_sessions(request: Request) -> sessionmaker[Session]:
    return cast(sessionmaker[Session], request.app.state.sessions)


async def get_redis(request: Request) -> SyncClient:
    return cast(SyncClient, request.app.state.redis)


async def get_limiter(request: Request) -> RateLimiter:
    return cast(RateLimiter, request.app.state.limiter)


async def get_ingestor(request: Request) -> ScoringLogIngestor:
    return cast(ScoringLogIngestor, request.app.state.ingestor)


async def get_profile_sync(request: Request) -> ProfileLabelSync:
    return cast(ProfileLabelSync, request.app.state.profile_sync)


async def get_monitor(request: Request) -> Monitor:
    return cast(Monitor, request.app.state.monitor)


SettingsDep = Annotated[FeedbackSettings, Depends(get_settings)]
ClockDep = Annotated[Callable[[], datetime], Depends(get_clock)]
PolicyDep = Annotated[LabelPolicy, Depends(get_policy)]
Sessions = Annotated[sessionmaker[Session], Depends(get_sessions)]
RedisDep = Annotated[SyncClient, Depends(get_redis)]
LimiterDep = Annotated[RateLimiter, Depends(get_limiter)]
IngestorDep = Annotated[ScoringLogIngestor, Depends(get_ingestor)]
ProfileSyncDep = Annotated[ProfileLabelSync, Depends(get_profile_sync)]
MonitorDep = Annotated[Monitor, Depends(get_monitor)]


async def label_reader(policy: PolicyDep, authorization: Authorization = None) -> ApiKey:
    """A key that may read label histories (401 without a known key, 403 without the scope)."""
    return policy.reader(authorization, LABEL_READERS, "labels:read")


async def monitoring_reader(policy: PolicyDep, authorization: Authorization = None) -> ApiKey:
    """A key that may read the monitoring view."""
    return policy.reader(authorization, MONITORING_READERS, "monitoring")


LabelReader = Annotated[ApiKey, Depends(label_reader)]
MonitoringReader = Annotated[ApiKey, Depends(monitoring_reader)]
