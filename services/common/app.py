"""What every service's FastAPI app starts with: its key ring and one 422 shape."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fastapi import FastAPI, Request, Response
from fastapi.exception_handlers import http_exception_handler
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from prometheus_client import Counter
from starlette.exceptions import HTTPException as StarletteHTTPException

from services.common.auth import KeyRing
from services.common.errors import validation_body
from services.common.logs import RequestId

BODY_UNREADABLE = "body is not readable JSON: not UTF-8 text, or nested too deeply"


def service_app(
    title: str, description: str, lifespan: Callable[[FastAPI], Any], keys: KeyRing,
    errors: Counter, *, request_ids: bool = True,
) -> FastAPI:  # fmt: skip
    """``request_ids=False``: the caller wraps the app in ``RequestId`` itself (outside the
    paths it serves without the framework)."""
    app = FastAPI(title=title, version="1", description=description, lifespan=lifespan)
    app.state.keys = keys
    if request_ids:
        app.add_middleware(RequestId)

    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        errors.labels("invalid").inc()
        return JSONResponse(validation_body(exc.errors()), status_code=422)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> Response:
        # FastAPI answers a body it cannot decode (not UTF-8, nested past the parser's depth)
        # with a bare 400; it is invalid input like any other, so a 422 that says so
        if exc.status_code == 400 and isinstance(exc.__cause__, ValueError | RecursionError):
            errors.labels("invalid").inc()
            error = {"type": "json_invalid", "loc": ("body",), "msg": BODY_UNREADABLE}
            return JSONResponse(validation_body([error]), status_code=422)
        return await http_exception_handler(request, exc)

    return app
