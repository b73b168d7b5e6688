"""The scoring API contract against the real Redis: answers, auth, validation, idempotency."""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import redis
from fastapi.testclient import TestClient

from fraudops.profile_store.client import ProfileStore
from fraudops.profile_store.commands import StoreConfig
from tests.services.conftest import PAYMENT, auth, free_port

pytestmark = pytest.mark.integration


def pay(**changes: object) -> dict[str, object]:
    return {**PAYMENT, **changes}


def test_score_answers_the_contract(client: TestClient, keys: dict[str, str]) -> None:
    r = client.post("/v1/score", json=pay(), headers=auth(keys["score"]))
    assert r.status_code == 200, r.text
    body = r.json()
    assert set(body) == {"transaction_id", "score", "decision", "model_version", "reasons",
                         "degraded", "rules"}  # fmt: skip
    assert body["rules"] == []  # no rule set active
    assert body["transaction_id"] == "p-1" and 0 <= body["score"] <= 1
    assert body["decision"] in ("approve", "review", "decline")
    assert body["model_version"] == "m1" and body["degraded"] is False
    assert len(body["reasons"]) == 3
    assert all(set(x) == {"feature", "value", "contribution"} for x in body["reasons"])
    contributions = [x["contribution"] for x in body["reasons"]]
    assert contributions == sorted(contributions, reverse=True)


def test_a_second_payment_sees_the_first(
    client: TestClient, keys: dict[str, str], redis_client: redis.Redis, store_config: StoreConfig
) -> None:
    client.post("/v1/score", json=pay(), headers=auth(keys["score"]))
    client.post("/v1/score", json=pay(transaction_id="p-2", timestamp="2026-11-26T10:00:01Z"),
                headers=auth(keys["score"]))  # fmt: skip
    customer, terminal = ProfileStore(redis_client, store_config).read("cust-1", "term-1")
    day = 1795701601 // 86400  # 2026-11-26
    assert customer.window_sum("dn", day, day) == 2 and terminal.window_sum("dn", day, day) == 2


def test_a_zero_amount_verification_is_scored_and_counted(
    client: TestClient, keys: dict[str, str], redis_client: redis.Redis, store_config: StoreConfig
) -> None:
    """$0 account-verification authorisations are card traffic: scored, counted in the profile
    (count buckets), adding nothing to the amount buckets; the API documents minimum 0."""
    for i, amount in enumerate(("0", "0.00", 0, 0.0)):
        body = pay(transaction_id=f"z-{i}", amount=amount, timestamp=f"2026-11-26T10:00:0{i}Z")
        r = client.post("/v1/score", json=body, headers=auth(keys["score"]))
        assert r.status_code == 200, r.text
        assert 0 <= r.json()["score"] <= 1 and r.json()["degraded"] is False
    customer, _ = ProfileStore(redis_client, store_config).read("cust-1", "term-1")
    day = 1795701600 // 86400
    assert customer.window_sum("dn", day, day) == 4 and customer.window_sum("da", day, day) == 0
    schema = client.get("/openapi.json").json()["components"]["schemas"]["Transaction"]
    assert {"type": "number", "minimum": 0, "maximum": 1e9, "multipleOf": 0.001} in schema[
        "properties"
    ]["amount"]["anyOf"]


def test_same_transaction_answers_the_same_and_counts_once(
    client: TestClient, keys: dict[str, str], redis_client: redis.Redis, store_config: StoreConfig
) -> None:
    first = client.post("/v1/score", json=pay(amount="300"), headers=auth(keys["score"]))
    again = client.post("/v1/score", json=pay(amount="300"), headers=auth(keys["score"]))
    assert first.status_code == again.status_code == 200
    assert first.json() == again.json()
    with ThreadPoolExecutor(16) as pool:  # concurrent duplicates of a new payment
        answers = list(pool.map(
            lambda _: client.post("/v1/score", json=pay(transaction_id="dup", amount="99"),
                                  headers=auth(keys["score"])), range(32)))  # fmt: skip
    assert {a.status_code for a in answers} == {200}
    assert len({a.text for a in answers}) == 1
    customer, _ = ProfileStore(redis_client, store_config).read("cust-1", "term-1")
    day = 1795701600 // 86400
    assert customer.window_sum("dn", day, day) == 2  # p-1 and dup, each once


def test_batch_answers_in_order_like_single_scores(
    client: TestClient, keys: dict[str, str]
) -> None:
    txs = [pay(transaction_id=f"b-{i}", customer_id=f"bc-{i % 3}", amount=f"{10 + i}.00",
               timestamp=f"2026-11-26T11:00:{i:02d}Z") for i in range(12)]  # fmt: skip
    r = client.post("/v1/score/batch", json={"transactions": txs}, headers=auth(keys["score"]))
    assert r.status_code == 200, r.text
    results = r.json()["results"]
    assert [x["transaction_id"] for x in results] == [t["transaction_id"] for t in txs]
    # the batch counted them: a single re-score of one returns the stored answer
    single = client.post("/v1/score", json=txs[5], headers=auth(keys["score"]))
    assert single.json() == results[5]
    too_many = client.post("/v1/score/batch", json={"transactions": [pay()] * 1001},
                           headers=auth(keys["score"]))  # fmt: skip
    assert too_many.status_code == 422 and "transactions" in too_many.json()["message"]


def test_keys_and_scopes(client: TestClient, keys: dict[str, str]) -> None:
    assert client.post("/v1/score", json=pay()).status_code == 401
    for scheme in ("bearer ", "BEARER  ", "Bearer\t"):  # the scheme name is case-insensitive
        ok = client.post("/v1/score", json=pay(transaction_id=f"s-{len(scheme)}{scheme[1]}"),
                         headers={"Authorization": scheme + keys["score"]})  # fmt: skip
        assert ok.status_code == 200, (scheme, ok.text)
    for path, body in (("/v1/score", pay()), ("/v1/score/batch", {"transactions": [pay()]})):
        # two Authorization headers: the first one counts, on the fast path as in FastAPI
        two = [("authorization", "Bearer fo_bad"), ("authorization", f"Bearer {keys['score']}")]
        assert client.post(path, json=body, headers=two).status_code == 401
        assert client.post(path, json=body, headers=two[::-1]).status_code == 200
    bad = client.post("/v1/score", json=pay(), headers=auth("fo_not-a-key"))
    assert bad.status_code == 401 and bad.json()["detail"] == "unknown API key"
    other = client.post("/v1/score", json=pay(), headers=auth(keys["other"]))
    assert other.status_code == 403 and "score" in other.json()["detail"]
    batch = client.post("/v1/score/batch", json={"transactions": [pay()]},
                        headers=auth(keys["other"]))  # fmt: skip
    assert batch.status_code == 403


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"amount": "-5"}, "amount"),
        ({"amount": "-0.01"}, "amount"),
        ({"amount": -0.001}, "amount"),
        ({"amount": "1.2345"}, "amount"),
        ({"amount": "1e2"}, "amount"),  # Decimal() reads these; the documented pattern does not
        ({"amount": "1_000"}, "amount"),
        ({"amount": "\u0661\u0662"}, "amount"),  # Arabic-Indic digits
        ({"timestamp": "20261126T100000Z"}, "timestamp"),  # ISO 8601 basic, not RFC 3339
        ({"timestamp": "2026-11-26T10:00:00+0200"}, "timestamp"),
        ({"timestamp": "2026-11-26T10:00:00Z\u0000"}, "timestamp"),
        ({"transaction_id": "p-\u202eevil"}, "transaction_id"),  # a bidi override
        ({"currency": "euro"}, "currency"),
        ({"currency": "XYZ"}, "currency"),
        ({"country": "ZZ"}, "country"),
        ({"timestamp": "2026-11-26 10:00"}, "timestamp"),
        ({"timestamp": "yesterday"}, "timestamp"),
        ({"timestamp": "9999-12-31T23:59:59-01:00"}, "timestamp"),  # past year 9999 in UTC
        ({"timestamp": "0001-01-01T00:00:00+01:00"}, "timestamp"),
        ({"timestamp": "3000-01-01T00:00:00Z"}, "timestamp"),  # would prune the velocity
        ({"customer_id": "A}:x:p-1"}, "customer_id"),  # would spell another entity's key
        ({"customer_id": ""}, "customer_id"),
        ({"surprise": 1}, "surprise"),
    ],
)
def test_bad_input_is_422_naming_the_field(
    client: TestClient, keys: dict[str, str], change: dict[str, object], field: str
) -> None:
    r = client.post("/v1/score", json=pay(**change), headers=auth(keys["score"]))
    assert r.status_code == 422
    assert r.json()["message"].startswith(field)
    b = client.post("/v1/score/batch", json={"transactions": [pay(**change)]},
                    headers=auth(keys["score"]))  # fmt: skip
    assert b.status_code == 422 and field in b.json()["message"]


def test_malformed_and_oversized_bodies(client: TestClient, keys: dict[str, str]) -> None:
    as_json = {**auth(keys["score"]), "Content-Type": "application/json"}
    for path in ("/v1/score", "/v1/score/batch"):  # the same shape on both routes
        r = client.post(path, content=b'{"transaction_id": ', headers=as_json)
        assert r.status_code == 422 and r.json()["message"].startswith("body: Invalid JSON")
        assert [e["loc"] for e in r.json()["detail"]] == [["body"]]
    big = json.dumps(pay(customer_id="x" * 2_000_000))
    r = client.post("/v1/score", content=big, headers=as_json)
    assert r.status_code == 413
    for path in ("/v1/score", "/v1/score/batch"):
        # streamed (chunked, no Content-Length): still a 413, on FastAPI's route too
        chunks = iter([b'{"transactions": ["', b"x" * 700_000, b"x" * 700_000, b'"]}'])
        r = client.post(path, content=chunks, headers=as_json)
        assert r.status_code == 413, (path, r.text)
        bad_utf8 = b'{"transactions": [{"transaction_id": "\xff"}]}'
        r = client.post(path, content=bad_utf8, headers=as_json)
        assert r.status_code == 422 and "JSON" in r.json()["message"], (path, r.text)
        deep = b'{"transactions": ' + b"[" * 5000 + b"]" * 5000 + b"}"
        r = client.post(path, content=deep, headers=as_json)
        assert r.status_code == 422 and "JSON" in r.json()["message"], (path, r.text)
        # no key: 401 before anything is said about the body
        assert client.post(path, content=b"{not json").status_code == 401
        form = {**auth(keys["score"]), "Content-Type": "application/x-www-form-urlencoded"}
        for headers in (form, auth(keys["score"])):  # a form, and no Content-Type at all
            r = client.post(path, content=b'{"a": 1}', headers=headers)
            assert r.status_code == 415 and "application/json" in r.json()["detail"]
        vendor = {**auth(keys["score"]), "Content-Type": "application/vnd.psp+json; charset=utf-8"}
        body = pay(transaction_id=f"ct-{len(path)}")
        wrapped = body if path == "/v1/score" else {"transactions": [body]}
        r = client.post(path, content=json.dumps(wrapped), headers=vendor)
        assert r.status_code == 200, (path, r.text)


def test_health_ready_metrics_and_openapi(client: TestClient, keys: dict[str, str]) -> None:
    assert client.get("/healthz").json() == {"status": "ok"}
    ready = client.get("/readyz").json()
    assert ready["ready"] and ready["model_version"] == "m1" and ready["redis"]
    client.post("/v1/score", json=pay(), headers=auth(keys["score"]))
    text = client.get("/metrics").text
    assert 'fraudops_scoring_model_info{version="m1"} 1.0' in text
    assert 'fraudops_scoring_request_seconds_bucket{endpoint="score",le="0.0005"}' in text
    assert 'fraudops_scoring_stage_seconds_count{stage="profiles"}' in text
    assert "fraudops_scoring_decisions_total" in text
    spec = client.get("/openapi.json").json()
    assert {"/v1/score", "/v1/score/batch", "/healthz", "/readyz"} <= set(spec["paths"])


def test_a_reused_transaction_id_gets_the_first_answer_and_counts_nothing(
    scoring_env: dict[str, str], keys: dict[str, str], redis_client: redis.Redis,
    store_config: StoreConfig, monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    # a long write interval: the repeat arrives while the first answer is not stored yet
    for k, v in {**scoring_env, "FRAUDOPS_SCORING_WRITE_EVERY_MS": "100"}.items():
        monkeypatch.setenv(k, v)
    from services.scoring.app import create_app

    with TestClient(create_app()) as c:
        first = c.post("/v1/score", json=pay(transaction_id="reused", customer_id="cust-r1"),
                       headers=auth(keys["score"]))  # fmt: skip
        other = c.post("/v1/score", json=pay(transaction_id="reused", customer_id="cust-r2",
                                             terminal_id="term-r2", amount="9000"),
                       headers=auth(keys["score"]))  # fmt: skip
        assert first.status_code == other.status_code == 200
        assert other.json() == first.json()
        # in one batch: the first occurrence is scored and counted, the other takes its answer
        pair = [
            pay(transaction_id="reused-2", customer_id="cust-r3"),
            pay(transaction_id="reused-2", customer_id="cust-r4", terminal_id="term-r4"),
        ]
        both = c.post("/v1/score/batch", json={"transactions": pair}, headers=auth(keys["score"]))
        assert both.status_code == 200
        assert both.json()["results"][0] == both.json()["results"][1]
    # stored once (the app's shutdown flushed it), the other payload counted nowhere
    stored = redis_client.get(f"{store_config.prefix}:r:reused")
    assert stored is not None and json.loads(stored) == first.json()
    store = ProfileStore(redis_client, store_config)
    day = 1795701600 // 86400
    assert store.read("cust-r1", "term-1")[0].window_sum("dn", day, day) == 1
    assert store.read("cust-r3", "term-1")[0].window_sum("dn", day, day) == 1
    for customer, terminal in (("cust-r2", "term-r2"), ("cust-r4", "term-r4")):
        c_state, t_state = store.read(customer, terminal)
        assert c_state.to_hash() == {} and t_state.to_hash() == {}


@pytest.mark.parametrize("needs_redis", [False, True])
def test_ready_without_redis_unless_told_otherwise(
    scoring_env: dict[str, str], monkeypatch: pytest.MonkeyPatch, needs_redis: bool
) -> None:
    """Redis away: answers are degraded, not refused, so the replica stays in the balancer."""
    env = {**scoring_env, "REDIS_URL": f"redis://127.0.0.1:{free_port()}/0",
           "FRAUDOPS_SCORING_READY_NEEDS_REDIS": str(needs_redis).lower()}  # fmt: skip
    for k, v in env.items():
        monkeypatch.setenv(k, v)
    from services.scoring.app import create_app

    with TestClient(create_app()) as c:
        ready = c.get("/readyz")
        body = ready.json()
        assert ready.status_code == (503 if needs_redis else 200), body
        assert body["redis"] is False and body["ready"] is not needs_redis
        assert "redis unreachable" in body["detail"] and body["model_version"] == "m1"


def test_no_model_is_a_503_to_retry_without_internal_paths(
    scoring_env: dict[str, str], keys: dict[str, str], tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    empty = tmp_path / "no-models"
    for k, v in {**scoring_env, "FRAUDOPS_MODEL_DIR": str(empty)}.items():
        monkeypatch.setenv(k, v)
    from services.scoring.app import create_app

    with TestClient(create_app()) as c:
        for path, body in (("/v1/score", pay()), ("/v1/score/batch", {"transactions": [pay()]})):
            r = c.post(path, json=body, headers=auth(keys["score"]))
            assert r.status_code == 503 and r.headers["retry-after"] == "5", (path, r.text)
            assert "model" in r.json()["detail"] and str(tmp_path) not in r.text
        ready = c.get("/readyz")
        assert ready.status_code == 503 and str(tmp_path) not in ready.text
