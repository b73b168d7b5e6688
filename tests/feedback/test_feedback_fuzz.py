"""Schemathesis fuzzes the feedback API from its own OpenAPI on a real server (PostgreSQL): no
5xx, every response matches the documented schema and status codes."""

from __future__ import annotations

import pytest
import redis
import schemathesis
from hypothesis import HealthCheck, given, settings

from fraudops.profile_store.commands import StoreConfig
from tests.feedback.conftest import bearer, feedback_env, log_scored
from tests.services.conftest import Server

pytestmark = [pytest.mark.integration, pytest.mark.slow]


def test_no_server_errors_and_schema_conformance(
    postgres_url: str, feedback_keys: dict[str, str], store_config: StoreConfig,
    redis_client: redis.Redis,
) -> None:  # fmt: skip
    for i in range(5):
        log_scored(redis_client, store_config.prefix, f"fz-{i}", "cust-1")
    server = Server(feedback_env(postgres_url, feedback_keys, store_config.prefix),
                    service="feedback")  # fmt: skip
    try:
        schema = schemathesis.openapi.from_url(server.url + "/openapi.json")
        operations = [result.ok() for result in schema.get_all_operations()]
        assert {f"{op.method.upper()} {op.path}" for op in operations} >= {
            "POST /v1/feedback", "GET /v1/feedback/{transaction_id}", "GET /readyz"}  # fmt: skip
        for op in operations:

            @settings(max_examples=60, deadline=None, database=None,
                      suppress_health_check=list(HealthCheck))  # fmt: skip
            @given(case=op.as_strategy())
            def run(case: schemathesis.Case) -> None:
                case.call_and_validate(base_url=server.url,
                                       headers=bearer(feedback_keys["analyst"]))  # fmt: skip

            run()
    finally:
        out = server.stop()
    assert "Traceback" not in out, out[-3000:]
