"""Issue 20, item 1, on SQLite and PostgreSQL with the real Redis: the scoring-log consumer
survives Redis losing its data (its group is created again and counted), and readiness says
when it keeps failing."""

from __future__ import annotations

import pytest
import redis
from fastapi.testclient import TestClient
from httpx import Response

from fraudops.profile_store.commands import StoreConfig
from services.common import scoring_log
from services.common.stream import GROUPS_RECREATED
from tests.feedback.conftest import bearer, label, log_scored
from tests.waiting import wait_until

pytestmark = pytest.mark.integration


def recreated(group: str) -> float:
    return float(GROUPS_RECREATED.labels(group)._value.get())


def test_a_lost_consumer_group_is_created_again_and_a_failing_consumer_is_not_ready(
    feedback: TestClient, redis_client: redis.Redis, store_config: StoreConfig
) -> None:
    prefix, stream = store_config.prefix, scoring_log.stream_key(store_config.prefix)
    h = bearer(feedback.app_keys["chargebacks"])

    def post(tx: str) -> Response:
        return feedback.post("/v1/feedback", json=label(tx, "fraud", "chargeback"), headers=h)

    log_scored(redis_client, prefix, "g-1", "cust-1")
    assert post("g-1").status_code == 201
    before = recreated("feedback")

    # Redis loses its data (restart without persistence, FLUSHALL, eviction): stream and group
    # gone; the scoring service goes on appending (to a new stream)
    redis_client.delete(stream)
    log_scored(redis_client, prefix, "g-2", "cust-2")
    r = post("g-2")
    assert r.status_code == 201, r.text  # the group was created again and the payment taken
    assert recreated("feedback") == before + 1
    ready = feedback.get("/readyz")
    assert ready.status_code == 200 and ready.json()["consumer"] is True, ready.text

    # a consumer that keeps failing (here the stream's key overwritten: every read is refused)
    # makes the service not ready: its new payments would be answered 404, never scored
    redis_client.delete(stream)
    redis_client.set(stream, "not a stream")
    assert wait_until(lambda: feedback.get("/readyz").status_code == 503)
    body = feedback.get("/readyz").json()
    assert (body["ready"], body["database"], body["redis"], body["consumer"]) == (
        False, True, True, False,
    ), body  # fmt: skip
    assert "scoring-log consumer failing" in body["detail"] and "ResponseError" in body["detail"]

    redis_client.delete(stream)  # the key freed: the consumer recovers, the service is ready
    assert wait_until(lambda: feedback.get("/readyz").status_code == 200)
    log_scored(redis_client, prefix, "g-3", "cust-3")
    assert post("g-3").status_code == 201
