"""Analyst credentials for the console: PBKDF2-SHA256 password hashes from the environment
(``fraudops keys analyst --username U`` makes an entry); passwords are never stored."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
import unicodedata

from services.common import actors

ITERATIONS = 310_000


def hash_password(password: str, salt: bytes | None = None, iterations: int = ITERATIONS) -> str:
    salt = salt or secrets.token_bytes(16)
    digest = hashlib.pbkdf2_hmac("sha256", password.encode(), salt, iterations)
    return f"pbkdf2_sha256${iterations}${_b64(salt)}${_b64(digest)}"


def _b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode()


def verify_password(password: str, encoded: str) -> bool:
    try:
        algo, iterations, salt, digest = encoded.split("$")
        if algo != "pbkdf2_sha256":
            return False
        expected = base64.b64decode(digest)
        got = hashlib.pbkdf2_hmac(
            "sha256", password.encode(), base64.b64decode(salt), int(iterations)
        )
    except (ValueError, TypeError):
        return False
    return hmac.compare_digest(got, expected)


class Analysts:
    def __init__(self, entries: dict[str, str]) -> None:
        self._hashes = entries
        # verifying an unknown user costs the same as a known one (no user enumeration by time)
        self._dummy = hash_password(secrets.token_urlsafe(16))

    @classmethod
    def from_json(cls, text: str) -> Analysts:
        entries = json.loads(text) if text.strip() else []
        if not isinstance(entries, list):
            raise ValueError("analysts must be a JSON list of {username, password_hash}")
        out = {}
        for i, e in enumerate(entries):
            try:
                username, password_hash = str(e["username"]), str(e["password_hash"])
            except (KeyError, TypeError):
                raise ValueError(f"analyst entry {i}: needs username and password_hash") from None
            # refused here, at start-up, rather than by the feedback service at the first label
            out[actors.check_name(username, f"analyst entry {i}: username")] = password_hash
        return cls(out)

    def __len__(self) -> int:
        return len(self._hashes)

    def check(self, username: str, password: str) -> bool:
        encoded = self._hashes.get(unicodedata.normalize("NFC", username))
        ok = verify_password(password, encoded or self._dummy)
        return ok and encoded is not None
