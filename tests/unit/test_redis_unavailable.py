"""A cluster client's "no node answers" (RedisClusterException, not a RedisError) is Redis away:
the callers that degrade on Redis errors degrade on it too."""

from __future__ import annotations

from typing import Any

import pytest
from prometheus_client import REGISTRY
from redis.exceptions import RedisClusterException, SlotNotCoveredError

from fraudops.redis_clients import UNAVAILABLE
from services.common.ratelimit import Limits, RateLimiter


class NoNode:
    """A cluster client during a failover, as redis-py raises it."""

    def __init__(self, exc: Exception) -> None:
        self.exc = exc

    def execute_command(self, *args: Any) -> Any:
        raise self.exc


@pytest.mark.parametrize("exc", [RedisClusterException("Redis Cluster cannot be connected."),
                                 SlotNotCoveredError("slot 42 not covered")])  # fmt: skip
def test_the_rate_limit_fails_open_when_no_cluster_node_answers(exc: Exception) -> None:
    assert isinstance(exc, UNAVAILABLE)
    limiter = RateLimiter("t", "p", {"key": Limits.parse(1, 60.0)})
    skipped = "fraudops_rate_limit_unavailable_total"
    before = REGISTRY.get_sample_value(skipped, {"service": "t"}) or 0
    limiter.enforce(NoNode(exc), limiter.check("key", "k", "key k"))  # type: ignore[arg-type]
    assert REGISTRY.get_sample_value(skipped, {"service": "t"}) == before + 1
