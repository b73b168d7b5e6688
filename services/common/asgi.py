"""JSON answers written straight on ASGI, for the paths that skip the framework."""

from __future__ import annotations

from typing import Any

import orjson

JSON = [(b"content-type", b"application/json")]


async def send_json(
    send: Any, status: int, body: bytes, headers: list[tuple[bytes, bytes]] = JSON
) -> None:
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [*headers, (b"content-length", str(len(body)).encode())],
        }
    )
    await send({"type": "http.response.body", "body": body})


async def send_error(
    send: Any, status: int, detail: str, headers: dict[str, str] | None = None
) -> None:
    """``{"detail": ...}``, the shape FastAPI gives an HTTPException."""
    extra = [(k.lower().encode(), v.encode()) for k, v in (headers or {}).items()]
    await send_json(send, status, orjson.dumps({"detail": detail}), [*JSON, *extra])
