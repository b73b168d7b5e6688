"""A background step that fails is never silent: it is logged (task and exception type, no
payload) and counted in fraudops_feedback_background_errors_total{task}, and the service keeps
its degraded behaviour (the other steps run, the label is stored and answered)."""

from __future__ import annotations

import logging
import time
from datetime import UTC, datetime
from typing import Any

import pytest
import redis
from fastapi.testclient import TestClient

from fraudops.profile_store.commands import StoreConfig
from models.registry import ALIASES
from services.feedback.background import Periodic, background_turn
from services.feedback.db import make_engine, session_factory, upgrade
from services.feedback.ingest import ScoringLogIngestor
from services.feedback.metrics import BACKGROUND_ERRORS
from services.feedback.monitoring import Monitor
from tests.feedback.conftest import bearer, label, log_scored

PII = "cust-4711@example.com"


def errors(task: str) -> float:
    return float(BACKGROUND_ERRORS.labels(task)._value.get())


class Failing:
    """Stands in for a consumer whose dependency is away."""

    def __init__(self) -> None:
        self.calls = 0

    def fail(self, *args: Any, **kwargs: Any) -> int:
        self.calls += 1
        raise redis.ConnectionError(f"lost while writing {PII}")

    drain = run_once = fail


class Fine:
    def __init__(self) -> None:
        self.calls = 0

    def run_once(self, *args: Any, **kwargs: Any) -> int:
        self.calls += 1
        return 0


def test_a_failing_step_is_logged_counted_and_the_others_still_run(
    caplog: pytest.LogCaptureFixture,
) -> None:
    ingestor, sync, monitor = Failing(), Fine(), Failing()
    before = errors("scoring_log"), errors("monitor"), errors("profile_sync")
    periodic = [Periodic("monitor", 3600.0, monitor.fail)]
    turn = background_turn(ingestor, sync, periodic)  # type: ignore[arg-type]
    with caplog.at_level(logging.WARNING, logger="fraudops.feedback"):
        turn()
        turn()  # the monitor is not due again for an hour
    assert (ingestor.calls, sync.calls, monitor.calls) == (2, 2, 1)
    assert errors("scoring_log") == before[0] + 2
    assert errors("monitor") == before[1] + 1
    assert errors("profile_sync") == before[2]
    messages = [r.getMessage() for r in caplog.records]
    assert messages.count("background task scoring_log failed: ConnectionError") == 2
    assert "background task monitor failed: ConnectionError" in messages
    assert not any(PII in m for m in messages)


@pytest.mark.integration
def test_request_path_catch_up_and_profile_push_failures_are_counted(
    feedback: TestClient, redis_client: redis.Redis, store_config: StoreConfig,
    caplog: pytest.LogCaptureFixture,
) -> None:  # fmt: skip
    """The label route's best-effort steps (take the scoring log now, tell the profiles now)
    fail alone: the answer is the same as with them working, and the failure is counted."""
    log_scored(redis_client, store_config.prefix, "bg-1", "cust-1", "term-1")
    feedback.app_ingest()  # type: ignore[attr-defined]
    app = feedback.app.api  # type: ignore[attr-defined]
    h = bearer(feedback.app_keys["analyst"])  # type: ignore[attr-defined]
    real_ingestor, real_sync = app.state.ingestor, app.state.profile_sync
    app.state.ingestor = app.state.profile_sync = Failing()  # the background loop keeps its own
    before = errors("scoring_log"), errors("profile_sync")
    try:
        with caplog.at_level(logging.WARNING, logger="fraudops.feedback"):
            unknown = feedback.post("/v1/feedback", json=label("bg-never", "fraud", "analyst"),
                                    headers=h)  # fmt: skip
            stored = feedback.post("/v1/feedback", json=label("bg-1", "fraud", "analyst"),
                                   headers=h)  # fmt: skip
    finally:
        app.state.ingestor, app.state.profile_sync = real_ingestor, real_sync
    assert unknown.status_code == 404 and "never scored" in unknown.json()["detail"]
    assert stored.status_code == 201 and stored.json()["effective_label"] == "fraud"
    assert errors("scoring_log") == before[0] + 1
    assert errors("profile_sync") == before[1] + 1
    messages = [r.getMessage() for r in caplog.records]
    assert "background task scoring_log failed: ConnectionError" in messages
    assert "background task profile_sync failed: ConnectionError" in messages
    assert not any(PII in m for m in messages)


@pytest.mark.integration
def test_an_unknown_backlog_is_counted_and_the_drain_still_counts(
    tmp_path: Any, redis_client: redis.Redis, store_config: StoreConfig,
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture,
) -> None:  # fmt: skip
    engine = make_engine(f"sqlite:///{tmp_path}/feedback.db")
    upgrade(engine)
    log_scored(redis_client, store_config.prefix, "bl-1", ts=int(time.time()) - 60)
    ingestor = ScoringLogIngestor(redis_client, session_factory(engine), store_config.prefix,
                                  "feedback", "worker-a")  # fmt: skip
    monkeypatch.setattr(ingestor, "lag", Failing().fail)
    before = errors("scoring_log_backlog")
    with caplog.at_level(logging.WARNING, logger="fraudops.feedback"):
        assert ingestor.drain() == 1
    engine.dispose()
    assert errors("scoring_log_backlog") == before + 1
    messages = [r.getMessage() for r in caplog.records]
    assert "scoring-log backlog unknown: ConnectionError" in messages


def test_an_unreadable_model_reference_is_counted_and_monitoring_goes_on(
    tmp_path: Any, caplog: pytest.LogCaptureFixture
) -> None:
    engine = make_engine(f"sqlite:///{tmp_path}/feedback.db")
    upgrade(engine)
    registry = tmp_path / "models"
    registry.mkdir()
    (registry / ALIASES).write_text("{half written")
    before = errors("model_reference")
    with caplog.at_level(logging.WARNING, logger="fraudops.feedback"):
        view = Monitor(session_factory(engine), registry).run_once(datetime.now(UTC))
    engine.dispose()
    assert view["model_version"] is None and view["psi"] == {}  # no drift, the rest computed
    assert errors("model_reference") == before + 1
    messages = [r.getMessage() for r in caplog.records]
    assert "production model reference unreadable: JSONDecodeError" in messages
