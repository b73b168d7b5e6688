"""The served score routes against their OpenAPI (the errors schemathesis' fuzzing rarely reaches:
409, 413, 415), and the request id from the caller to the answer, the log and the scoring log."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from datetime import UTC, datetime

import httpx
import pytest
import redis
import schemathesis

from fraudops.profile_store.commands import StoreConfig
from fraudops.profile_store.layout import answer_key, dedup_key
from services.common import scoring_log
from tests.services.conftest import PAYMENT, Server, auth

pytestmark = [pytest.mark.integration]


def pay(**changes: object) -> dict[str, object]:
    return {**PAYMENT, "timestamp": datetime.now(UTC).isoformat(), **changes}


@pytest.fixture
def served(scoring_env: dict[str, str]) -> Iterator[Server]:
    s = Server({**scoring_env, "FRAUDOPS_SCORING_MAX_BODY_BYTES": "4096"}, args=("--access-log",))
    yield s
    s.stop()


def _operation(server: Server, path: str) -> schemathesis.APIOperation:
    schema = schemathesis.openapi.from_url(server.url + "/openapi.json")
    return schema[path]["POST"]  # type: ignore[no-any-return]


def _conforms(op: schemathesis.APIOperation, response: httpx.Response, status: int) -> None:
    """The status is the one expected, documented for the route, and the body has its schema."""
    assert response.status_code == status, response.text
    case = op.Case(body={}, media_type="application/json")
    case.validate_response(response)  # raises when undocumented or off-schema


def test_415_413_403_are_documented_and_served_as_documented_405_for_other_methods(
    served: Server, keys: dict[str, str]
) -> None:
    for path in ("/v1/score", "/v1/score/batch"):
        op = _operation(served, path)
        r = httpx.post(served.url + path, content=b"{}", headers={**auth(keys["score"]),
                       "Content-Type": "text/plain"})  # fmt: skip
        _conforms(op, r, 415)
        big = json.dumps(pay(customer_id="x" * 5000)).encode()
        r = httpx.post(served.url + path, content=big, headers={**auth(keys["score"]),
                       "Content-Type": "application/json"})  # fmt: skip
        _conforms(op, r, 413)
        r = httpx.post(served.url + path, json={}, headers=auth(keys["other"]))
        _conforms(op, r, 403)
        for method in ("GET", "PUT", "DELETE"):  # the route exists: only POST is allowed
            r = httpx.request(method, served.url + path, headers=auth(keys["score"]))
            assert r.status_code == 405 and r.headers["allow"] == "POST", (method, path)


def test_409_is_documented_and_served_as_documented(
    scoring_env: dict[str, str], keys: dict[str, str], redis_client: redis.Redis,
    store_config: StoreConfig,
) -> None:  # fmt: skip
    # a payment another worker has counted and not answered yet (its dedup marker is there, its
    # answer is not), asked of a server that does not wait for that answer: 409
    second = Server({**scoring_env, "FRAUDOPS_SCORING_DUPLICATE_WAIT_MS": "0"})
    try:
        payment = pay(transaction_id="dup-409")
        marker = dedup_key(store_config.prefix, "customer", str(payment["customer_id"]), "dup-409")
        redis_client.set(marker, "1", ex=60)
        busy = httpx.post(second.url + "/v1/score", json=payment, headers=auth(keys["score"]))
        _conforms(_operation(second, "/v1/score"), busy, 409)
        assert busy.headers["retry-after"] == "1"
        batch = httpx.post(second.url + "/v1/score/batch", json={"transactions": [payment]},
                           headers=auth(keys["score"]))  # fmt: skip
        _conforms(_operation(second, "/v1/score/batch"), batch, 409)
        redis_client.set(answer_key(store_config.prefix, "dup-409"), b'{"answer": "stored"}')
        again = httpx.post(second.url + "/v1/score", json=payment, headers=auth(keys["score"]))
        assert again.status_code == 200 and again.json() == {"answer": "stored"}
    finally:
        second.stop()


def test_a_request_id_goes_from_the_caller_to_the_answer_the_log_and_the_scoring_log(
    served: Server, keys: dict[str, str], redis_client: redis.Redis, store_config: StoreConfig
) -> None:
    sent = httpx.post(served.url + "/v1/score", json=pay(transaction_id="rid-1"),
                      headers={**auth(keys["score"]), "X-Request-ID": "psp-req.42"})  # fmt: skip
    assert sent.status_code == 200 and sent.headers["x-request-id"] == "psp-req.42"
    made = httpx.post(served.url + "/v1/score", json=pay(transaction_id="rid-2"),
                      headers=auth(keys["score"]))  # fmt: skip
    generated = made.headers["x-request-id"]
    assert len(generated) == 32 and generated != "psp-req.42"
    # a value that could forge a log line is replaced, not echoed
    forged = httpx.post(served.url + "/v1/score", json=pay(transaction_id="rid-3"),
                        headers={**auth(keys["score"]), "X-Request-ID": "a\tb c"})  # fmt: skip
    assert forged.headers["x-request-id"] not in ("a\tb c", "-")
    batch = httpx.post(served.url + "/v1/score/batch",
                       json={"transactions": [pay(transaction_id="rid-4")]},
                       headers={**auth(keys["score"]), "X-Request-ID": "batch-7"})  # fmt: skip
    assert batch.status_code == 200 and batch.headers["x-request-id"] == "batch-7"
    refused = httpx.post(served.url + "/v1/score", json={}, headers={"X-Request-ID": "no-key"})
    assert refused.status_code == 401 and refused.headers["x-request-id"] == "no-key"
    health = httpx.get(served.url + "/healthz", headers={"X-Request-ID": "probe-1"})
    assert health.headers["x-request-id"] == "probe-1"

    stream = scoring_log.stream_key(store_config.prefix)
    logged: dict[str, str] = {}
    for _ in range(50):
        entries = redis_client.xrange(stream)
        logged = {}
        for _id, fields in entries:
            entry = json.loads(fields[scoring_log.FIELD])
            logged[entry["transaction_id"]] = entry["request_id"]
        if len(logged) == 4:
            break
        time.sleep(0.05)
    assert logged == {"rid-1": "psp-req.42", "rid-2": generated,
                      "rid-3": forged.headers["x-request-id"], "rid-4": "batch-7"}  # fmt: skip

    lines = [json.loads(line) for line in served.stop().splitlines() if line.startswith("{")]
    assert lines, "the server logs JSON lines"
    assert all({"ts", "level", "logger", "message", "request_id"} <= set(x) for x in lines)
    by_id = {x["request_id"]: x for x in lines if x["logger"] == "uvicorn.access"}
    assert {"psp-req.42", generated, "batch-7", "no-key", "probe-1"} <= set(by_id)
    assert "/v1/score/batch" in by_id["batch-7"]["message"]
