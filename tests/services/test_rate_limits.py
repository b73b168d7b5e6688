"""Per-key rate limits of the scoring API on a real server with 2 workers and the real Redis: the
limit holds across the workers, other keys are unaffected, and the key recovers after the window."""

from __future__ import annotations

import json
import time
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest

from services.common.auth import new_key
from tests.services.conftest import PAYMENT, Server, auth

pytestmark = [pytest.mark.integration, pytest.mark.slow]

LIMIT, WINDOW_S = 4, 8.0  # one more request every 2 s once the 4 are spent


def payment(i: int, customer: str) -> dict[str, str]:
    return {**PAYMENT, "transaction_id": f"rl-{customer}-{i}", "customer_id": customer,
            "timestamp": f"2026-11-26T12:00:{i % 60:02d}Z"}  # fmt: skip


def score(url: str, key: str, i: int, customer: str = "c1") -> httpx.Response:
    # a fresh connection per request: requests land on either worker
    return httpx.post(url + "/v1/score", json=payment(i, customer), headers=auth(key), timeout=10)


def test_a_key_past_its_limit_gets_429_across_workers_others_do_not(
    scoring_env: dict[str, str], request: pytest.FixtureRequest
) -> None:
    limited, limited_entry = new_key("limited", ["score"])
    free, free_entry = new_key("free", ["score"])
    env = {**scoring_env, "FRAUDOPS_API_KEYS": json.dumps([limited_entry, free_entry]),
           "FRAUDOPS_SCORING_RATE_LIMIT_KEYS": json.dumps({"limited": LIMIT}),
           "FRAUDOPS_SCORING_RATE_LIMIT_WINDOW_S": str(WINDOW_S)}  # fmt: skip
    server = Server(env, workers=2)
    request.addfinalizer(server.stop)
    score(server.url, free, 0, "warm")  # both workers' first request pays no start-up costs
    score(server.url, free, 1, "warm")

    started = time.monotonic()
    with ThreadPoolExecutor(8) as pool:
        answers = list(pool.map(lambda i: score(server.url, limited, i), range(3 * LIMIT)))
    elapsed = time.monotonic() - started
    statuses = [r.status_code for r in answers]
    assert set(statuses) == {200, 429}, statuses
    # exactly the limit, plus what refilled meanwhile (one per WINDOW_S / LIMIT seconds)
    assert LIMIT <= statuses.count(200) <= LIMIT + int(elapsed / (WINDOW_S / LIMIT)), (
        statuses,
        elapsed,
    )
    refused = next(r for r in answers if r.status_code == 429)
    assert refused.headers["content-type"] == "application/json"
    assert 1 <= int(refused.headers["retry-after"]) <= 2
    body = refused.json()
    assert body["rate_limit"] == {"limit": LIMIT, "window_s": WINDOW_S}
    assert "API key 'limited'" in body["detail"] and body["retry_after_s"] >= 1

    # order: a bad key is 401 before any limit; the limit comes before the Content-Type (415)
    assert score(server.url, "fo_unknown", 99).status_code == 401
    late = httpx.post(server.url + "/v1/score", content=b"x", timeout=10,
                      headers={**auth(limited), "Content-Type": "text/plain"})  # fmt: skip
    assert late.status_code == 429, late.text
    # (sent within 2 s: nothing refilled yet) a batch counts as one request
    batch = httpx.post(server.url + "/v1/score/batch", headers=auth(limited), timeout=10,
                       json={"transactions": [payment(90, "c3"), payment(91, "c3")]})  # fmt: skip
    assert batch.status_code == 429
    # the other key is unaffected, on the same server at the same time
    assert [score(server.url, free, i, "c2").status_code for i in range(2 * LIMIT)] == [200] * (
        2 * LIMIT
    )

    time.sleep(WINDOW_S)  # a full window later the whole allowance is back
    back = [score(server.url, limited, 100 + i, "c4").status_code for i in range(LIMIT)]
    assert back == [200] * LIMIT, back
    metrics = httpx.get(server.url + "/metrics").text
    line = 'fraudops_rate_limited_total{key="limited",kind="key",service="scoring"}'
    counted = [ln for ln in metrics.splitlines() if ln.startswith(line)]
    assert counted and float(counted[0].rsplit(" ", 1)[1]) >= 2 * LIMIT - 1, counted
    assert "Traceback" not in server.stop()
