from __future__ import annotations

import os
import uuid
from collections.abc import Iterator

import pandas as pd
import pytest
import redis

from fraudops.profile_store.commands import StoreConfig
from fraudops.readers import validate_history
from fraudops.simulator import SimulationConfig, simulate

TEST_REDIS_URL = os.environ.get("FRAUDOPS_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")


@pytest.fixture(scope="session")
def small_history() -> pd.DataFrame:
    """~20k labelled canonical transactions with the card-testing scenario, validated."""
    cfg = SimulationConfig(customers=200, terminals=400, days=50, seed=7, card_testing_per_day=20)
    good, bad = validate_history(simulate(cfg))
    assert bad.empty
    return good


@pytest.fixture
def redis_client() -> Iterator[redis.Redis]:
    """The real Redis (make test starts it); never skipped: an integration test must fail loudly."""
    client = redis.Redis.from_url(TEST_REDIS_URL)
    client.ping()
    yield client
    client.close()


@pytest.fixture
def store_config(redis_client: redis.Redis) -> Iterator[StoreConfig]:
    """A key prefix of this test's own, removed afterwards."""
    prefix = f"test{uuid.uuid4().hex[:10]}"
    yield StoreConfig(prefix=prefix)
    keys = list(redis_client.scan_iter(match=f"{prefix}:*", count=1000))
    for i in range(0, len(keys), 1000):
        redis_client.delete(*keys[i : i + 1000])
