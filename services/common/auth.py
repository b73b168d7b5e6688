"""API keys per client, stored hashed (SHA-256 of a high-entropy random key), with scopes.

Configured from the environment as JSON, e.g.
``[{"name": "psp-a", "sha256": "<hex>", "scopes": ["score"]}]``; ``fraudops keys new`` makes a
key and prints its entry. The key itself never reaches the service's configuration or its logs.
"""

from __future__ import annotations

import hashlib
import json
import secrets
from dataclasses import dataclass
from typing import Annotated

from fastapi import HTTPException, Request, Security, status
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

# documents the scheme in the OpenAPI; the key itself is checked by KeyRing (scopes, hashing)
BEARER = HTTPBearer(auto_error=False, description="an API key: `Authorization: Bearer <key>`")


@dataclass(frozen=True)
class ApiKey:
    name: str
    sha256: str
    scopes: frozenset[str]


def hash_key(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def bearer_token(authorization: str | None) -> str | None:
    """The credentials of an ``Authorization: Bearer <token>`` header (the scheme name is
    case-insensitive, RFC 7235), or None for another scheme or none."""
    parts = (authorization or "").split(None, 1)
    if len(parts) != 2 or parts[0].lower() != "bearer":
        return None
    return parts[1].strip() or None


def new_key(name: str, scopes: list[str]) -> tuple[str, dict[str, object]]:
    key = "fo_" + secrets.token_urlsafe(32)
    return key, {"name": name, "sha256": hash_key(key), "scopes": sorted(scopes)}


class KeyRing:
    def __init__(self, keys: list[ApiKey]) -> None:
        self._by_hash = {k.sha256.lower(): k for k in keys}

    @classmethod
    def from_json(cls, text: str) -> KeyRing:
        """Parse the configured keys; a malformed entry is an error at start-up, not at request."""
        entries = json.loads(text) if text.strip() else []
        if not isinstance(entries, list):
            raise ValueError("API keys must be a JSON list of {name, sha256, scopes}")
        keys = []
        for i, e in enumerate(entries):
            try:
                digest = str(e["sha256"]).lower()
                if len(digest) != 64 or any(c not in "0123456789abcdef" for c in digest):
                    raise ValueError("sha256 must be 64 hex digits")
                keys.append(ApiKey(str(e["name"]), digest, frozenset(e.get("scopes", []))))
            except (KeyError, TypeError, ValueError) as exc:
                raise ValueError(f"API key entry {i}: {exc}") from None
        return cls(keys)

    def __len__(self) -> int:
        return len(self._by_hash)

    def authenticate(self, authorization: str | None) -> ApiKey:
        token = bearer_token(authorization)
        if not token:
            raise HTTPException(
                status.HTTP_401_UNAUTHORIZED,
                "missing API key: send 'Authorization: Bearer <key>'",
                headers={"WWW-Authenticate": "Bearer"},
            )
        key = self._by_hash.get(hash_key(token))
        if key is None:
            raise HTTPException(
                status.HTTP_401_UNAUTHORIZED, "unknown API key", {"WWW-Authenticate": "Bearer"}
            )
        return key

    def authorize(self, authorization: str | None, scope: str) -> ApiKey:
        """The caller's key (else 401), which must carry ``scope`` (else 403)."""
        key = self.authenticate(authorization)
        if scope not in key.scopes:
            raise HTTPException(
                status.HTTP_403_FORBIDDEN, f"API key '{key.name}' lacks the '{scope}' scope"
            )
        return key


def require(scope: str):  # type: ignore[no-untyped-def]
    """A dependency (async: a sync one would cost a thread hop per request): the caller's key,
    which must carry ``scope`` (else 403)."""

    async def dependency(
        request: Request,
        _documented: Annotated[HTTPAuthorizationCredentials | None, Security(BEARER)] = None,
    ) -> ApiKey:
        ring: KeyRing = request.app.state.keys
        return ring.authorize(request.headers.get("authorization"), scope)

    return dependency
