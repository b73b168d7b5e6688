"""Schemathesis fuzzes the scoring API from its own OpenAPI on a real server: no 5xx, and every
response matches the documented schema and status codes."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings

from fraudops.schema import parse_timestamp
from tests.services.conftest import Server, auth

pytestmark = [pytest.mark.integration, pytest.mark.slow]


@pytest.fixture
def fuzz_server(scoring_env: dict[str, str]) -> Iterator[Server]:
    s = Server(scoring_env)
    yield s
    s.stop()


def test_no_server_errors_and_schema_conformance(fuzz_server: Server, keys: dict[str, str]
                                                 ) -> None:  # fmt: skip
    schema = schemathesis.openapi.from_url(fuzz_server.url + "/openapi.json")
    operations = [result.ok() for result in schema.get_all_operations()]
    assert {f"{op.method.upper()} {op.path}" for op in operations} >= {
        "POST /v1/score", "POST /v1/score/batch", "GET /healthz", "GET /readyz"}  # fmt: skip
    for op in operations:

        @settings(max_examples=60, deadline=None, database=None,
                  suppress_health_check=list(HealthCheck))  # fmt: skip
        @given(case=op.as_strategy())
        def run(case: schemathesis.Case) -> None:
            for tx in _transactions(case.body):
                _not_ahead_of_the_clock(tx)
            case.call_and_validate(base_url=fuzz_server.url, headers=auth(keys["score"]))

        run()


def _transactions(body: object) -> list[dict[str, object]]:
    if isinstance(body, dict) and isinstance(body.get("transactions"), list):
        return [t for t in body["transactions"] if isinstance(t, dict)]
    return [body] if isinstance(body, dict) else []


def _not_ahead_of_the_clock(tx: dict[str, object]) -> None:
    """The one rule a static schema cannot state: a payment is not dated after the server's
    clock (422 past ``max_ahead_s``). A schema-valid timestamp that is later becomes now."""
    value = tx.get("timestamp")
    if not isinstance(value, str):
        return
    try:
        ts = parse_timestamp(value)
    except ValueError:
        return  # an unreadable one stays: the 422 is then the expected answer
    if ts > datetime.now(UTC):
        tx["timestamp"] = datetime.now(UTC).isoformat()
