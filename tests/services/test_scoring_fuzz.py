"""Schemathesis fuzzes the scoring API from its own OpenAPI on a real server: no 5xx, and every
response matches the documented schema and status codes."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings

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
            case.call_and_validate(base_url=fuzz_server.url, headers=auth(keys["score"]))

        run()
