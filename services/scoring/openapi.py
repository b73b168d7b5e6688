"""The OpenAPI of the score routes, derived from the schemas ``ScoreEndpoint`` validates with.

The routes themselves are served by ``ScoreEndpoint`` (endpoint.py), never by FastAPI; these
declarations only describe them (request body, bearer key, answers and errors) and are merged into
the app's OpenAPI. tests/services/test_scoring_fuzz.py holds the served answers to this document.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Depends, FastAPI
from fastapi.openapi.utils import get_openapi
from fastapi.routing import APIRoute

from fraudops.schema import Transaction
from services.common.auth import ApiKey, require
from services.scoring.schemas import ERROR_RESPONSES, BatchRequest, BatchResponse, ScoreResponse

ScoreKey = Annotated[ApiKey, Depends(require("score"))]
_DOC_ONLY = "documentation only: the route is served by services.scoring.endpoint.ScoreEndpoint"


async def score(tx: Transaction, _key: ScoreKey) -> ScoreResponse:
    """Score one payment: approve / review / decline, with the reasons. The same
    ``transaction_id`` scored again gets the same answer and is counted once."""
    raise AssertionError(_DOC_ONLY)


async def score_batch(batch: BatchRequest, _key: ScoreKey) -> BatchResponse:
    """Score up to 1,000 payments in one request; answers in request order."""
    raise AssertionError(_DOC_ONLY)


ROUTES = [
    APIRoute("/v1/score", score, methods=["POST"], response_model=ScoreResponse,
             responses=ERROR_RESPONSES),
    APIRoute("/v1/score/batch", score_batch, methods=["POST"], response_model=BatchResponse,
             responses=ERROR_RESPONSES),
]  # fmt: skip


def document_score_routes(app: FastAPI) -> None:
    """``app.openapi()`` with the score routes in it."""

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            app.openapi_schema = get_openapi(
                title=app.title,
                version=app.version,
                description=app.description,
                routes=[*ROUTES, *app.routes],
            )
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
