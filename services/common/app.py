"""What every service's FastAPI app starts with: its key ring and one 422 shape."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from prometheus_client import Counter

from services.common.auth import KeyRing
from services.common.errors import validation_body


def service_app(
    title: str, description: str, lifespan: Callable[[FastAPI], Any], keys: KeyRing,
    errors: Counter,
) -> FastAPI:  # fmt: skip
    app = FastAPI(title=title, version="1", description=description, lifespan=lifespan)
    app.state.keys = keys

    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        errors.labels("invalid").inc()
        return JSONResponse(validation_body(exc.errors()), status_code=422)

    return app
