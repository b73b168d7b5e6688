"""Request ids on the log lines they belong to: an unhandled error, a coalesced group."""

from __future__ import annotations

import asyncio
import io
import json
import logging
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from services.common.logs import JsonLines, RequestId, request_id
from services.scoring.coalesce import Coalescer


@pytest.fixture
def json_log() -> Iterator[io.StringIO]:
    out = io.StringIO()
    handler = logging.StreamHandler(out)
    handler.setFormatter(JsonLines())
    root = logging.getLogger()
    root.addHandler(handler)
    old = root.level
    root.setLevel(logging.INFO)
    yield out
    root.removeHandler(handler)
    root.setLevel(old)


def lines(out: io.StringIO) -> list[dict[str, Any]]:
    """Ours (not the HTTP client's)."""
    logged = [json.loads(x) for x in out.getvalue().splitlines()]
    return [x for x in logged if x["logger"].startswith("fraudops")]


async def test_an_unhandled_error_is_logged_with_the_request_id_and_the_500_carries_it(
    json_log: io.StringIO,
) -> None:
    async def broken(scope: Any, receive: Any, send: Any) -> None:
        logging.getLogger("fraudops.test").info("about to fail")
        raise RuntimeError("boom")

    transport = httpx.ASGITransport(app=RequestId(broken))
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
        r = await client.get("/x", headers={"X-Request-ID": "req-500"})
    assert r.status_code == 500 and r.headers["x-request-id"] == "req-500"
    assert r.json() == {"detail": "Internal Server Error"}
    logged = lines(json_log)
    assert [(x["logger"], x["request_id"]) for x in logged] == [
        ("fraudops.test", "req-500"), ("fraudops.http", "req-500")]  # fmt: skip
    assert "RuntimeError: boom" in logged[1]["error"]
    assert request_id.get() == "-"  # nothing leaks out of the request


class FakeScorer:
    budget_s = 1.0

    def __init__(self) -> None:
        self.calls: list[list[str]] = []

    async def score_items(
        self, model: Any, txs: list[Any], request_ids: list[str], budget: float
    ) -> list[bytes]:
        self.calls.append(list(request_ids))
        logging.getLogger("fraudops.scoring").warning("scoring %d payment(s)", len(txs))
        return [b"{}" for _ in txs]


class Model:
    version = "m1"


async def test_a_coalesced_group_logs_under_its_first_request_id(json_log: io.StringIO) -> None:
    scorer = FakeScorer()
    coalescer = Coalescer(scorer)  # type: ignore[arg-type]

    async def one(rid: str) -> bytes:
        request_id.set(rid)  # as RequestId does for each request
        return await coalescer.score(Model(), object(), rid)  # type: ignore[arg-type]

    assert await asyncio.gather(one("A"), one("B"), one("C")) == [b"{}"] * 3
    assert await one("D") == b"{}"
    assert scorer.calls == [["A", "B", "C"], ["D"]]
    assert [x["request_id"] for x in lines(json_log)] == ["A+2", "D"]
