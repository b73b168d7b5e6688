"""FastAPI app of the scoring service: the lifespan owns the Redis pool, the model holder and the
scorer; ``ScoreEndpoint`` serves the score routes, FastAPI the rest and the OpenAPI."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from typing import Any

import redis.asyncio as aredis
from fastapi import FastAPI, Request, Response
from fastapi.responses import JSONResponse

from fraudops.redis_clients import sync_client
from fraudops.rules.lists import ListStore
from fraudops.settings import CoreSettings
from services.common.app import service_app
from services.common.auth import KeyRing
from services.common.drain import DRAINING_DETAIL, draining
from services.common.limits import BodyLimit
from services.common.logs import RequestId
from services.common.metrics import metrics_response, probe_failed
from services.common.ratelimit import Limits, RateLimiter
from services.scoring.cluster_wire import ClusterWire
from services.scoring.coalesce import Coalescer
from services.scoring.endpoint import ScoreEndpoint
from services.scoring.engine import Scorer
from services.scoring.metrics import ERRORS
from services.scoring.model_holder import ModelHolder
from services.scoring.openapi import document_score_routes
from services.scoring.profiles import AdminRedis, Wire
from services.scoring.rules_holder import RulesHolder
from services.scoring.schemas import Health, Ready
from services.scoring.settings import ScoringSettings
from services.scoring.shadow import Activity, Shadow
from services.scoring.wire import RedisWire

log = logging.getLogger("fraudops.scoring")


def redis_clients(url: str, cluster: bool, budget_s: float) -> tuple[AdminRedis, Wire]:
    """The admin client (redis-py: scripts, probes, rare reads) and the hot path's wire, for one
    Redis or a Redis Cluster. Every call is bounded where it is made (asyncio.timeout: the
    request's budget); a client socket timeout would add a Task per write and a timer per reply."""
    if cluster:
        admin: AdminRedis = aredis.RedisCluster.from_url(
            url, socket_timeout=None, socket_connect_timeout=budget_s, max_connections=256
        )
        return admin, ClusterWire(url)
    admin = aredis.Redis.from_url(url, socket_timeout=None, socket_connect_timeout=budget_s,
                                  max_connections=256, health_check_interval=0)  # fmt: skip
    return admin, RedisWire(url)


def create_app(settings: ScoringSettings | None = None) -> Any:
    """The ASGI app (``.api`` is the FastAPI app inside, with its state and OpenAPI)."""
    settings = settings or ScoringSettings()
    keys = KeyRing.from_json(settings.api_keys)
    url, store_cfg, cluster, log_shards = settings.store()
    per_key = Limits.parse(
        settings.rate_limit_per_key,
        settings.rate_limit_window_s,
        settings.rate_limit_keys,
        settings.rate_limit_lease_share,
    )

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        budget = settings.redis_budget_ms / 1000
        # Every call is bounded where it is made (asyncio.timeout: the request's budget). A
        # client socket timeout would add a Task per write (wait_for) and a timer per reply.
        client, wire = redis_clients(url, cluster, budget)
        holder = ModelHolder(settings.model_dir, settings.model_alias)
        await holder.refresh()
        scorer = Scorer.create(
            admin=client,
            wire=wire,
            cfg=store_cfg,
            budget_s=budget,
            batch_budget_s=settings.batch_redis_budget_ms / 1000,
            breaker_s=settings.breaker_s,
            replay_capacity=settings.replay_capacity,
            duplicate_wait_s=settings.duplicate_wait_ms / 1000,
            log_maxlen=settings.log_maxlen,
            write_every_s=settings.write_every_ms / 1000,
            log_shards=log_shards,
        )
        app.state.holder, app.state.redis, app.state.scorer = holder, client, scorer
        app.state.coalescer = Coalescer(scorer)
        tasks = [
            asyncio.create_task(holder.watch(settings.model_poll_s)),
            asyncio.create_task(scorer.replay.run()),
        ]
        if settings.shadow_max_share > 0 and settings.log_maxlen > 0:
            shadow = Shadow(settings.model_dir, settings.shadow_max_share, app.state.activity)
            await shadow.holder.refresh()
            scorer.answers.shadow = shadow.apply
            tasks.append(asyncio.create_task(shadow.holder.watch(settings.model_poll_s)))
        if settings.rules:
            # lists are read rarely (when their version moves), by a sync client in a thread
            lists_client = sync_client(url, cluster, socket_timeout=2)
            rules = RulesHolder(
                CoreSettings().rules_root(), ListStore(lists_client, store_cfg.prefix)
            )
            await rules.refresh()
            scorer.rules = rules
            tasks.append(asyncio.create_task(rules.watch(settings.model_poll_s)))
        writer = asyncio.create_task(scorer.answers.run())
        if not len(keys):
            log.warning("no API keys configured: every score request will be refused (401)")

        try:
            yield
        finally:
            for t in tasks:
                t.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            scorer.answers.stop()  # its last flush stores every answer given
            if scorer.rules is not None:
                scorer.rules.flush_hits()
            await asyncio.wait([writer], timeout=5)
            await scorer.replay.replay()
            wire.close()
            await client.aclose()
            if scorer.rules is not None and scorer.rules.cache is not None:
                scorer.rules.cache.store.client.close()

    app = service_app(
        "fraudops scoring",
        "Scores card payments: approve / review / decline with reasons.",
        lifespan,
        keys,
        ERRORS,
        request_ids=False,  # RequestId wraps the score routes too (below)
    )
    app.state.settings = settings
    app.state.activity = Activity()  # score requests in flight: the shadow waits for none
    app.state.limiter = RateLimiter("scoring", store_cfg.prefix, {"key": per_key})
    document_score_routes(app)

    @app.get("/healthz", response_model=Health)
    async def healthz() -> Health:
        return Health(status="ok")

    @app.get("/readyz", response_model=Ready, responses={503: {"model": Ready}})
    async def readyz(request: Request) -> JSONResponse:
        holder: ModelHolder = request.app.state.holder
        try:
            async with asyncio.timeout(0.5):
                redis_ok = bool(await request.app.state.redis.ping())
        except Exception as exc:  # TimeoutError, RedisError, OSError, ...: not ready, never a 500
            probe_failed("redis", exc)
            redis_ok = False
        model = holder.current
        # Redis away: payments still get (degraded) answers, so a replica stays in the balancer
        # unless told otherwise; else one Redis outage would take every replica out at once
        ready = (
            model is not None and (redis_ok or not settings.ready_needs_redis) and not draining()
        )
        detail = holder.error if model is None else None
        if not redis_ok:
            detail = detail or "redis unreachable: answers are degraded (request-only features)"
        if draining():  # SIGTERM: the balancer takes this replica out (services.common.drain)
            detail = DRAINING_DETAIL
        body = Ready(
            ready=ready,
            model_version=model.version if model else None,
            redis=redis_ok,
            detail=detail,
        )
        return JSONResponse(body.model_dump(), status_code=200 if ready else 503)

    @app.get("/metrics", include_in_schema=False)
    async def metrics() -> Response:
        if app.state.scorer.rules is not None:
            app.state.scorer.rules.flush_hits()  # this worker's; the others' within a poll
        return metrics_response()

    return RequestId(BodyLimit(ScoreEndpoint(app, app), settings.max_body_bytes))
