"""A readiness check that finds a dependency down says so, and logs and counts it."""

from __future__ import annotations

import logging

import pytest
import redis
from sqlalchemy import create_engine
from sqlalchemy.orm import sessionmaker

from services.common.db import reachable
from services.common.metrics import PROBE_FAILURES
from tests.services.conftest import free_port


def _count(dependency: str) -> float:
    return PROBE_FAILURES.labels(dependency)._value.get()


def test_unreachable_dependencies_are_not_ready_logged_and_counted(
    caplog: pytest.LogCaptureFixture, redis_client: redis.Redis
) -> None:
    port = free_port()  # nobody listens there
    sessions = sessionmaker(create_engine(f"postgresql+psycopg://nobody@127.0.0.1:{port}/x"))
    down = redis.Redis(port=port, socket_connect_timeout=1)
    before = (_count("database"), _count("redis"))
    with caplog.at_level(logging.WARNING, logger="fraudops.readiness"):
        assert reachable(sessions, down) == (False, False)
    assert (_count("database"), _count("redis")) == (before[0] + 1, before[1] + 1)
    assert "database unreachable (OperationalError)" in caplog.text
    assert "redis unreachable (ConnectionError)" in caplog.text
    up = sessionmaker(create_engine("sqlite://"))
    assert reachable(up, redis_client) == (True, True)
    assert (_count("database"), _count("redis")) == (before[0] + 1, before[1] + 1)
