"""One shape for validation errors (422) on every route and path: FastAPI's, plus a message
that names the first bad field."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from fastapi.encoders import jsonable_encoder


def validation_body(errors: Sequence[Any], prefix: tuple[str, ...] = ()) -> dict[str, Any]:
    detail = []
    for e in errors:
        e = dict(e)
        loc = [*prefix, *e.get("loc", ())]
        if e.get("type") == "json_invalid" and len(loc) == 2 and isinstance(loc[1], int):
            # FastAPI puts the character offset where a field name goes: ("body", 1)
            reason = (e.get("ctx") or {}).get("error")
            e["msg"] = f"Invalid JSON{f': {reason}' if reason else ''} at character {loc[1]}"
            loc = loc[:1]
        e["loc"] = loc
        detail.append(e)
    first = detail[0] if detail else {}
    field = ".".join(str(p) for p in first.get("loc", ()) if p != "body")
    message = f"{field or 'body'}: {first.get('msg', 'invalid')}"
    return {"detail": jsonable_encoder(detail, exclude={"input", "ctx", "url"}), "message": message}
