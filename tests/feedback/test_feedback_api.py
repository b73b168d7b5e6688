"""The feedback API on SQLite and PostgreSQL: ownership, tokens, idempotency, precedence, and the
labels reaching the Redis profile store at their arrival time."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

import jwt
import pytest
import redis
from fastapi.testclient import TestClient

from fraudops.profile_store.client import ProfileStore
from fraudops.profile_store.commands import StoreConfig
from tests.feedback.conftest import SECRET, bearer, label, log_scored, user_token
from tests.waiting import wait_until

pytestmark = pytest.mark.integration
OTHER_SECRET = "not-the-secret-but-as-long-as-a-real-one"


def fraud_known(redis_client: redis.Redis, cfg: StoreConfig, kind: str, entity: str) -> int:
    state = ProfileStore(redis_client, cfg).read_entity(kind, entity)  # type: ignore[arg-type]
    return state.window_sum("df", 0, 10**9)


def test_owner_labels_once_and_the_profiles_learn_it(
    feedback: TestClient, redis_client: redis.Redis, store_config: StoreConfig
) -> None:
    log_scored(redis_client, store_config.prefix, "t-1", "cust-1", "term-9")
    headers = bearer(user_token("cust-1"))
    first = feedback.post("/v1/feedback", json=label("t-1"), headers=headers)
    assert first.status_code == 201, first.text
    body = first.json()
    assert body["duplicate"] is False and body["effective_label"] == "fraud"
    assert body["event"]["actor"] == "customer:cust-1"
    arrived = datetime.fromisoformat(body["event"]["arrived_at"])
    assert abs((arrived - datetime.now(UTC)).total_seconds()) < 30

    again = feedback.post("/v1/feedback", json=label("t-1"), headers=headers)
    assert again.status_code == 200 and again.json()["duplicate"] is True
    assert again.json()["event"]["event_id"] == body["event"]["event_id"]

    hist = feedback.get("/v1/feedback/t-1", headers=bearer(feedback.app_keys["analyst"]))
    assert [e["label"] for e in hist.json()["events"]] == ["fraud"]
    # the fraud is known to both entities' profiles, counted once
    assert wait_until(lambda: fraud_known(redis_client, store_config, "terminal", "term-9") == 1)
    assert fraud_known(redis_client, store_config, "customer", "cust-1") == 1


def test_precedence_chargeback_over_analyst_over_in_app(
    feedback: TestClient, redis_client: redis.Redis, store_config: StoreConfig
) -> None:
    log_scored(redis_client, store_config.prefix, "t-2", "cust-2", "term-2")
    keys = feedback.app_keys
    cb, an = bearer(keys["chargebacks"]), bearer(keys["analyst"])
    steps = [
        (label("t-2", "legit", "in_app"), bearer(user_token("cust-2")), "legit", "in_app", 0),
        (label("t-2", "fraud", "chargeback"), cb, "fraud", "chargeback", 1),
        (label("t-2", "legit", "analyst"), an, "fraud", "chargeback", 1),
        (label("t-2", "legit", "in_app"), bearer(user_token("cust-2")), "fraud", "chargeback", 1),
        (label("t-2", "legit", "chargeback"), cb, "legit", "chargeback", 0),
    ]  # fmt: skip
    for payload, headers, eff, eff_source, known in steps:
        r = feedback.post("/v1/feedback", json=payload, headers=headers)
        assert r.status_code in (200, 201), r.text
        assert (r.json()["effective_label"], r.json()["effective_source"]) == (eff, eff_source)
        assert wait_until(
            lambda k=known: fraud_known(redis_client, store_config, "terminal", "term-2") == k
        ), payload
    events = feedback.get("/v1/feedback/t-2", headers=bearer(keys["analyst"])).json()["events"]
    # the repeated in-app "legit" was the same label from the same source: not recorded twice
    assert [(e["source"], e["label"]) for e in events] == [
        ("in_app", "legit"), ("chargeback", "fraud"), ("analyst", "legit"),
        ("chargeback", "legit"),
    ]  # fmt: skip


def test_tokens_and_ownership(
    feedback: TestClient, redis_client: redis.Redis, store_config: StoreConfig
) -> None:
    log_scored(redis_client, store_config.prefix, "t-3", "cust-3")
    post = lambda headers, payload=None: feedback.post(  # noqa: E731
        "/v1/feedback", json=payload or label("t-3"), headers=headers
    )
    now = datetime.now(UTC)
    cases = {
        "someone else's payment": (bearer(user_token("cust-4")), 404, "of this customer"),
        "no token": ({}, 401, "Bearer"),
        "expired": (bearer(tokens_at(now - timedelta(hours=1), timedelta(minutes=5))), 401,
                    "expired"),
        "forged": (bearer(user_token("cust-3", secret=OTHER_SECRET)), 401, "signature"),
        "alg none": (bearer(jwt.encode({"sub": "cust-3", "aud": "fraudops-feedback",
                                        "iat": now, "exp": now + timedelta(minutes=5)},
                                       None, algorithm="none")), 401, "token"),
        "garbage": (bearer("abc.def"), 401, "malformed"),
        "too long-lived": (bearer(tokens_at(now, timedelta(days=30))), 401, "lifetime"),
    }  # fmt: skip
    for name, (headers, status, words) in cases.items():
        r = post(headers)
        assert r.status_code == status, (name, r.text)
        assert words in r.json()["detail"], (name, r.json())
    keys = feedback.app_keys
    r = post(bearer(keys["psp"]), label("t-3", "fraud", "analyst"))
    assert r.status_code == 403 and "label:analyst" in r.json()["detail"]
    r = post(bearer(keys["analyst"]), label("t-3", "fraud", "chargeback"))
    assert r.status_code == 403 and "label:chargeback" in r.json()["detail"]
    r = post(bearer("fo_unknown"), label("t-3", "fraud", "analyst"))
    assert r.status_code == 401
    # nothing of the refused calls was stored
    hist = feedback.get("/v1/feedback/t-3", headers=bearer(keys["analyst"])).json()
    assert hist["events"] == [] and hist["effective_label"] is None


def tokens_at(issued: datetime, ttl: timedelta) -> str:
    return jwt.encode({"sub": "cust-3", "aud": "fraudops-feedback", "iat": issued,
                       "exp": issued + ttl}, SECRET, algorithm="HS256")  # fmt: skip


def test_bad_input_gets_clear_4xx(feedback: TestClient) -> None:
    h = bearer(feedback.app_keys["analyst"])
    cases = [
        ({"transaction_id": "t", "label": "maybe", "source": "analyst"}, 422, "label"),
        ({"transaction_id": 5, "label": "fraud", "source": "analyst"}, 422, "transaction_id"),
        ({"transaction_id": "a b", "label": "fraud", "source": "analyst"}, 422, "transaction_id"),
        ({"transaction_id": "t", "label": "fraud", "source": "psp"}, 422, "source"),
        ({"transaction_id": "t", "label": "fraud", "source": "analyst", "x": 1}, 422, "x"),
        ({"label": "fraud", "source": "analyst"}, 422, "transaction_id"),
    ]
    for payload, status, field in cases:
        r = feedback.post("/v1/feedback", json=payload, headers=h)
        assert r.status_code == status, (payload, r.text)
        assert field in r.json()["message"], (payload, r.json())
    r = feedback.post("/v1/feedback", content=b"{not json", headers={**h, "content-type":
                      "application/json"})  # fmt: skip
    assert r.status_code == 422
    r = feedback.post("/v1/feedback", content=b'{"a":"' + b"x" * 100_000 + b'"}', headers=h)
    assert r.status_code == 413
    r = feedback.post("/v1/feedback", json=label("never-scored", "fraud", "analyst"), headers=h)
    assert r.status_code == 404 and "never scored" in r.json()["detail"]


def test_redis_down_keeps_the_label_and_catches_up(
    feedback: TestClient, redis_client: redis.Redis, store_config: StoreConfig
) -> None:
    """With the profile store unreachable the label is stored and answered; the profiles get
    it when Redis answers again."""
    log_scored(redis_client, store_config.prefix, "t-5", "cust-5", "term-5")
    feedback.app_ingest()
    app = feedback.app.api  # type: ignore[attr-defined]
    real = app.state.profile_sync.profiles.redis
    app.state.profile_sync.profiles.redis = redis.Redis(port=1, socket_connect_timeout=0.2)
    try:
        r = feedback.post("/v1/feedback", json=label("t-5", "fraud", "analyst"),
                          headers=bearer(feedback.app_keys["analyst"]))  # fmt: skip
        assert r.status_code == 201
        time.sleep(0.4)
        assert fraud_known(redis_client, store_config, "terminal", "term-5") == 0
        assert feedback.get("/readyz").json()["database"] is True
    finally:
        app.state.profile_sync.profiles.redis = real
    assert wait_until(lambda: fraud_known(redis_client, store_config, "terminal", "term-5") == 1)
