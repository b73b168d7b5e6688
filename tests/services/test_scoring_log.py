"""End to end: the scoring service's decisions reach the feedback database through the scoring
log, and the card holder can label their payment."""

from __future__ import annotations

import json

import pytest
from fastapi.testclient import TestClient

from fraudops.features import FEATURE_NAMES
from services.feedback.db import ScoredTransaction
from tests.feedback.conftest import (  # noqa: F401
    bearer,
    database_url,
    feedback,
    feedback_keys,
    label,
    user_token,
)
from tests.services.conftest import PAYMENT, auth

pytestmark = pytest.mark.integration


def test_decisions_are_logged_once_and_can_be_labelled(
    client: TestClient,
    feedback: TestClient,  # noqa: F811
    keys: dict[str, str],
) -> None:
    answers = {}
    for i in range(3):
        tx = {**PAYMENT, "transaction_id": f"log-{i}", "customer_id": f"cust-{i}"}
        r = client.post("/v1/score", json=tx, headers=auth(keys["score"]))
        assert r.status_code == 200
        answers[tx["transaction_id"]] = r.json()
    repeat = {**PAYMENT, "transaction_id": "log-0", "customer_id": "cust-0"}
    assert client.post("/v1/score", json=repeat, headers=auth(keys["score"])).status_code == 200

    # the in-app label arrives before the feedback service polled the log: it drains it first
    r = feedback.post("/v1/feedback", json=label("log-1"), headers=bearer(user_token("cust-1")))
    assert r.status_code == 201, r.text
    feedback.app_ingest()  # type: ignore[attr-defined]
    sessions = feedback.app.api.state.sessions  # type: ignore[attr-defined]
    with sessions() as s:
        rows = {r.transaction_id: r for r in s.query(ScoredTransaction)}
    assert set(rows) == set(answers)
    for tx_id, answer in answers.items():
        row = rows[tx_id]
        assert (row.decision, row.model_version, row.degraded) == (
            answer["decision"], answer["model_version"], False
        )  # fmt: skip
        assert row.score == pytest.approx(answer["score"], abs=1e-6)
        features = json.loads(row.features)
        assert len(features) == len(FEATURE_NAMES)
        assert str(row.amount) == "42.500" and row.terminal_id == PAYMENT["terminal_id"]
