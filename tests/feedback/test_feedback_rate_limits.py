"""Rate limits of POST /v1/feedback on SQLite and PostgreSQL with the real Redis: a user token's
answers past its limit get 429 and store nothing; other card holders and keys are unaffected; a
key past its own limit gets 429 too."""

from __future__ import annotations

import json

import pytest
import redis
from fastapi.testclient import TestClient

from fraudops.profile_store.commands import StoreConfig
from tests.feedback.conftest import bearer, label, log_scored, user_token

pytestmark = pytest.mark.integration
USER_LIMIT, KEY_LIMIT = 4, 3


@pytest.fixture
def limits(monkeypatch: pytest.MonkeyPatch) -> None:
    """Set before the app is made (``feedback`` below reads the environment)."""
    monkeypatch.setenv("FRAUDOPS_FEEDBACK_RATE_LIMIT_PER_USER", str(USER_LIMIT))
    monkeypatch.setenv("FRAUDOPS_FEEDBACK_RATE_LIMIT_KEYS", json.dumps({"chargebacks": KEY_LIMIT}))


def test_user_token_answers_past_the_limit_get_429_and_store_nothing(
    limits: None, feedback: TestClient, redis_client: redis.Redis, store_config: StoreConfig
) -> None:
    log_scored(redis_client, store_config.prefix, "rl-1", "cust-1")
    log_scored(redis_client, store_config.prefix, "rl-2", "cust-2")
    feedback.app_ingest()  # type: ignore[attr-defined]
    keys = feedback.app_keys  # type: ignore[attr-defined]
    mine = bearer(user_token("cust-1"))
    answers = [  # the abuse of the issue: answers alternating as fast as the client can send
        feedback.post("/v1/feedback", json=label("rl-1", ("fraud", "legit")[i % 2]), headers=mine)
        for i in range(3 * USER_LIMIT)
    ]
    statuses = [r.status_code for r in answers]
    assert statuses == [201] * USER_LIMIT + [429] * (2 * USER_LIMIT), statuses
    refused = answers[-1]
    assert 1 <= int(refused.headers["retry-after"]) <= 60 // USER_LIMIT
    body = refused.json()
    assert body["rate_limit"] == {"limit": USER_LIMIT, "window_s": 60}
    assert "user token" in body["detail"] and "cust-1" not in body["detail"]
    # nothing was stored for the refused answers: the history holds the allowed ones only
    hist = feedback.get("/v1/feedback/rl-1", headers=bearer(keys["analyst"])).json()
    assert [e["label"] for e in hist["events"]] == ["fraud", "legit"] * (USER_LIMIT // 2)
    # a fresh token of the same card holder shares the limit; another card holder has their own
    again = feedback.post("/v1/feedback", json=label("rl-1"), headers=bearer(user_token("cust-1")))
    assert again.status_code == 429
    theirs = feedback.post("/v1/feedback", json=label("rl-2"), headers=bearer(user_token("cust-2")))
    assert theirs.status_code == 201, theirs.text
    # keys have their own limits: the analyst key none, the chargeback feed KEY_LIMIT
    analyst = feedback.post("/v1/feedback", json=label("rl-1", "fraud", "analyst"),
                            headers=bearer(keys["analyst"]))  # fmt: skip
    assert analyst.status_code in (200, 201), analyst.text
    feed = bearer(keys["chargebacks"])
    answer = ("fraud", "legit")
    cb = [
        feedback.post("/v1/feedback", json=label("rl-2", answer[i % 2], "chargeback"), headers=feed)
        for i in range(KEY_LIMIT + 2)
    ]
    assert [r.status_code for r in cb] == [201] * KEY_LIMIT + [429] * 2, [r.text for r in cb]
    metrics = feedback.get("/metrics").text
    assert 'fraudops_rate_limited_total{key="user",kind="user",service="feedback"}' in metrics
    assert 'fraudops_rate_limited_total{key="chargebacks",kind="key",service="feedback"}' in metrics
