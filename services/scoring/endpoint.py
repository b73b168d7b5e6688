"""POST /v1/score and /v1/score/batch: their one implementation, straight on ASGI.

The checks run in this order on both routes: the method (405), the key (401/403), the key's rate
limit (429 with Retry-After; a batch counts as one request), the Content-Type (415), the body (413
past the limit, in ``BodyLimit``; 422 naming the field), a date past the server clock (422), a
model (503), a duplicate still being scored elsewhere (409).
FastAPI's per-request cost was a third of the CPU time of a score, so these routes skip the
framework; their OpenAPI is derived from the same schemas (``openapi.py``) and a schemathesis test
holds the served answers to it. The request-latency histogram covers reading and validating the
body too.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Mapping
from typing import Any, TypeVar

import orjson
from fastapi import FastAPI, HTTPException
from pydantic import BaseModel, ValidationError

from fraudops.schema import Transaction
from models.runtime import ScoringModel
from services.common.asgi import JSON, send_json
from services.common.auth import ApiKey
from services.common.errors import validation_body
from services.common.logs import request_id
from services.common.ratelimit import Limited
from services.scoring.answers import Busy
from services.scoring.metrics import ERRORS, REQUEST_SECONDS
from services.scoring.schemas import BatchRequest, future_dated

SINGLE, BATCH = "/v1/score", "/v1/score/batch"
_SECONDS = {SINGLE: REQUEST_SECONDS.labels("score"), BATCH: REQUEST_SECONDS.labels("batch")}
Scope = dict[str, Any]
Receive = Callable[[], Awaitable[dict[str, Any]]]
Send = Callable[[dict[str, Any]], Awaitable[None]]
Body = TypeVar("Body", bound=BaseModel)


class Refused(Exception):
    """An answer other than 200: status, body, headers; counted under ``kind``."""

    def __init__(
        self, kind: str, status: int, body: bytes, headers: Mapping[str, str] | None = None
    ) -> None:
        super().__init__(kind)
        self.kind, self.status, self.body = kind, status, body
        self.headers = dict(headers or {})

    @classmethod
    def http(cls, kind: str, exc: HTTPException) -> Refused:
        return cls(kind, exc.status_code, orjson.dumps({"detail": exc.detail}), exc.headers)

    @classmethod
    def invalid(cls, errors: list[Any], prefix: tuple[str, ...] = ()) -> Refused:
        return cls("invalid", 422, orjson.dumps(validation_body(errors, prefix)))


def is_json(content_type: bytes | None) -> bool:
    """What FastAPI parses as JSON (strict: a body without a Content-Type is not JSON):
    application/json or application/*+json, with parameters."""
    if not content_type:
        return False
    media = content_type.split(b";", 1)[0].strip().lower()
    return media == b"application/json" or (
        media.startswith(b"application/") and media.endswith(b"+json")
    )


class ScoreEndpoint:
    """Serves the two score routes; every other request goes to ``app`` (the FastAPI app)."""

    def __init__(self, app: Any, api: FastAPI, scope_name: str = "score") -> None:
        self.app = app
        self.api = api  # its state holds the key ring, the model holder, the scorer
        self.scope_name = scope_name

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = scope.get("path")
        if scope["type"] != "http" or path not in _SECONDS:
            await self.app(scope, receive, send)
            return
        if scope["method"] != "POST":
            await send_json(send, 405, b'{"detail":"Method Not Allowed"}',
                            [*JSON, (b"allow", b"POST")])  # fmt: skip
            return
        started = time.perf_counter()
        activity = self.api.state.activity
        activity.enter()
        try:
            await self._check_headers(scope)
            body = await _read_body(receive)
            if body is None:
                return  # the client went away
            answer = await (self._single(body) if path == SINGLE else self._batch(body))
            _SECONDS[path].observe(time.perf_counter() - started)
            await send_json(send, 200, answer)
        except Refused as no:
            ERRORS.labels(no.kind).inc()
            headers = [(k.lower().encode(), v.encode()) for k, v in no.headers.items()]
            await send_json(send, no.status, no.body, [*JSON, *headers])
        finally:
            activity.leave()

    async def _check_headers(self, scope: Scope) -> None:
        auth = content_type = None
        for name, value in scope["headers"]:  # the first of each, as Starlette reads them
            if name == b"authorization" and auth is None:
                auth = value.decode("latin-1")
            elif name == b"content-type" and content_type is None:
                content_type = value
        try:
            key = self.api.state.keys.authorize(auth, self.scope_name)
        except HTTPException as exc:
            raise Refused.http("unauthorized" if exc.status_code == 401 else "forbidden",
                               exc) from None  # fmt: skip
        await self._rate_limit(key)
        if not is_json(content_type):
            raise Refused("invalid", 415, b'{"detail":"Content-Type must be application/json"}')

    async def _rate_limit(self, key: ApiKey) -> None:
        """429 past the key's limit; no limit configured for it costs nothing."""
        state = self.api.state
        check = state.limiter.check("key", key.name, f"API key '{key.name}'")
        if check is None:
            return
        try:
            await state.scorer.profiles.rate_limit(state.limiter, check, state.scorer.budget_s)
        except Limited as no:
            raise Refused("rate_limited", 429, orjson.dumps(no.body), no.headers) from None

    def _model(self) -> ScoringModel:
        holder = self.api.state.holder
        model: ScoringModel | None = holder.current
        if model is None:
            raise Refused.http("no_model", holder.unavailable())
        return model

    async def _single(self, body: bytes) -> bytes:
        state = self.api.state
        tx = _parse(Transaction, body)
        if late := future_dated((tx,), time.time(), state.settings.max_ahead_s, batch=False):
            raise Refused.invalid(late)
        model = self._model()
        try:
            answer: bytes = await state.coalescer.score(model, tx.to_txn(), request_id.get())
        except Busy:
            raise _busy(tx.transaction_id) from None
        return answer

    async def _batch(self, body: bytes) -> bytes:
        state = self.api.state
        txs = _parse(BatchRequest, body).transactions
        if len(txs) > state.settings.max_batch:
            msg = f"at most {state.settings.max_batch} per batch"
            raise Refused.invalid([{"type": "too_long", "loc": ("body", "transactions"),
                                    "msg": msg}])  # fmt: skip
        if late := future_dated(txs, time.time(), state.settings.max_ahead_s, batch=True):
            raise Refused.invalid(late)
        model = self._model()
        rid = request_id.get()
        try:
            bodies = await state.scorer.score(model, [t.to_txn() for t in txs], [rid] * len(txs))
        except Busy as exc:
            raise _busy(str(exc)) from None
        return b'{"results":[' + b",".join(bodies) + b"]}"


def _parse(schema: type[Body], body: bytes) -> Body:
    try:
        return schema.model_validate_json(body)
    except ValidationError as exc:
        raise Refused.invalid(exc.errors(), ("body",)) from None


def _busy(transaction_id: str) -> Refused:
    detail = orjson.dumps({"detail": f"transaction {transaction_id} is being scored; retry"})
    return Refused("busy", 409, detail, {"Retry-After": "1"})


async def _read_body(receive: Receive) -> bytes | None:
    chunks = []
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            return None
        chunks.append(message.get("body", b""))
        if not message.get("more_body"):
            return b"".join(chunks)
