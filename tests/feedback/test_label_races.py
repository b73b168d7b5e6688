"""Issue 20, items 2 and 14, on SQLite and PostgreSQL: concurrent contradictory labels are
applied in the order they commit, and a user token cannot tell an unknown id from another
customer's payment."""

from __future__ import annotations

import random
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from itertools import pairwise

import pytest
import redis
from fastapi.testclient import TestClient
from httpx import Response

from fraudops.profile_store.commands import StoreConfig
from services.feedback.db import utcnow
from tests.feedback.conftest import bearer, label, log_scored, user_token

pytestmark = pytest.mark.integration


def test_concurrent_contradictory_labels_apply_in_commit_order(
    feedback: TestClient, redis_client: redis.Redis, store_config: StoreConfig
) -> None:
    """20 parallel chargebacks alternating fraud/legit on one payment. The clock is read and
    then the request waits a random moment (preempted, a GC pause, the row lock of another
    request): the arrival must be read once the row is locked, or the events are ordered by
    when they were sent rather than by when they were applied."""
    log_scored(redis_client, store_config.prefix, "cc-1", "cust-1")
    feedback.app_ingest()  # type: ignore[attr-defined]
    app = feedback.app.api  # type: ignore[attr-defined]
    rng = random.Random(20)
    rng_lock = threading.Lock()

    def slow_clock() -> datetime:
        now = utcnow()
        with rng_lock:
            pause = rng.uniform(0, 0.02)
        time.sleep(pause)
        return now

    app.state.clock = slow_clock
    h = bearer(feedback.app_keys["chargebacks"])
    values = ["fraud" if i % 2 == 0 else "legit" for i in range(20)]

    def post(value: str) -> Response:
        return feedback.post("/v1/feedback", json=label("cc-1", value, "chargeback"), headers=h)

    with ThreadPoolExecutor(20) as pool:
        answers = list(pool.map(post, values))
    statuses = Counter(r.status_code for r in answers)
    assert set(statuses) <= {200, 201}, [r.text for r in answers if r.status_code >= 300]

    hist = feedback.get("/v1/feedback/cc-1", headers=bearer(feedback.app_keys["analyst"]))
    events = hist.json()["events"]  # by arrival
    committed = sorted(events, key=lambda e: e["event_id"])  # ids are given under the row lock
    assert events == committed, "arrival order is not commit order"
    labels = [e["label"] for e in committed]
    # no event repeats the one committed before it: that label was already the latest
    assert all(a != b for a, b in pairwise(labels)), labels
    assert statuses[201] == len(committed) and statuses[200] == 20 - len(committed), statuses
    created = {r.json()["event"]["event_id"] for r in answers if r.status_code == 201}
    assert created == {e["event_id"] for e in committed}
    # the effective label is the last committed one
    assert (hist.json()["effective_label"], hist.json()["effective_source"]) == (
        labels[-1], "chargeback",
    )  # fmt: skip


def test_a_user_token_cannot_tell_unknown_ids_from_other_customers_payments(
    feedback: TestClient, redis_client: redis.Redis, store_config: StoreConfig
) -> None:
    log_scored(redis_client, store_config.prefix, "own-1", "cust-1")
    log_scored(redis_client, store_config.prefix, "their-1", "cust-2")
    feedback.app_ingest()  # type: ignore[attr-defined]
    h = bearer(user_token("cust-1"))

    def post(tx: str) -> Response:
        return feedback.post("/v1/feedback", json=label(tx), headers=h)

    theirs, never = post("their-1"), post("never-1")
    assert theirs.status_code == never.status_code == 404, (theirs.text, never.text)
    assert theirs.json() == never.json(), (theirs.json(), never.json())
    assert sorted(theirs.headers.keys() - {"x-request-id"}) == sorted(
        never.headers.keys() - {"x-request-id"}
    )
    assert post("own-1").status_code == 201  # the customer's own payment is labelled
    # nothing of the refused calls was stored; keys keep their answers
    analyst = bearer(feedback.app_keys["analyst"])
    assert feedback.get("/v1/feedback/their-1", headers=analyst).json()["events"] == []
    r = feedback.post("/v1/feedback", json=label("never-1", "fraud", "analyst"), headers=analyst)
    assert r.status_code == 404 and "never scored" in r.json()["detail"]
    r = feedback.post("/v1/feedback", json=label("their-1", "fraud", "analyst"), headers=analyst)
    assert r.status_code == 201
