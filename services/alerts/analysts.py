"""Analyst credentials and roles for the console: PBKDF2-SHA256 password hashes from the
environment (``fraudops keys analyst --username U [--role admin]`` makes an entry); passwords are
never stored. Roles: ``analyst`` (the default: manages lists, proposes rule sets) and ``admin``
(also activates and rolls back rule sets, deletes lists)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
import unicodedata

from services.common import actors

# OWASP's current recommendation for PBKDF2-HMAC-SHA256; the count is part of each encoded hash,
# so entries made with an earlier count (310,000) still verify
ITERATIONS = 600_000
ROLES = ("analyst", "admin")
DEFAULT_ROLE = "analyst"


def hash_password(password: str, salt: bytes | None = None, iterations: int = ITERATIONS) -> str:
    salt = salt or secrets.token_bytes(16)
    digest = hashlib.pbkdf2_hmac("sha256", password.encode(), salt, iterations)
    return f"pbkdf2_sha256${iterations}${_b64(salt)}${_b64(digest)}"


def _b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode()


def iterations_of(encoded: str) -> int:
    """The iteration count of an encoded hash; ValueError when it is not one of ours."""
    algo, iterations, _salt, _digest = encoded.split("$")
    if algo != "pbkdf2_sha256" or not iterations.isdigit() or int(iterations) < 1:
        raise ValueError("not a pbkdf2_sha256$<iterations>$<salt>$<digest> hash")
    return int(iterations)


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
    def __init__(self, entries: dict[str, str], roles: dict[str, str] | None = None) -> None:
        self._hashes = entries
        self._roles = roles or {}
        # verifying an unknown user costs the same as a known one (no user enumeration by time):
        # as many iterations as the costliest entry
        counts = [iterations_of(h) for h in entries.values()]
        self._dummy = hash_password(
            secrets.token_urlsafe(16), iterations=max(counts, default=ITERATIONS)
        )
        self.outdated = sum(1 for c in counts if c < ITERATIONS)

    @classmethod
    def from_json(cls, text: str) -> Analysts:
        entries = json.loads(text) if text.strip() else []
        if not isinstance(entries, list):
            raise ValueError("analysts must be a JSON list of {username, password_hash[, role]}")
        out, roles = {}, {}
        for i, e in enumerate(entries):
            try:
                username, password_hash = str(e["username"]), str(e["password_hash"])
            except (KeyError, TypeError):
                raise ValueError(f"analyst entry {i}: needs username and password_hash") from None
            # refused here, at start-up, rather than by the feedback service at the first label
            username = actors.check_name(username, f"analyst entry {i}: username")
            try:
                iterations_of(password_hash)
            except ValueError as exc:
                raise ValueError(f"analyst entry {i}: password_hash: {exc}") from None
            role = e.get("role", DEFAULT_ROLE)
            if role not in ROLES:
                raise ValueError(f"analyst entry {i}: role {role!r}: one of {', '.join(ROLES)}")
            out[username], roles[username] = password_hash, role
        return cls(out, roles)

    def __len__(self) -> int:
        return len(self._hashes)

    def check(self, username: str, password: str) -> bool:
        encoded = self._hashes.get(unicodedata.normalize("NFC", username))
        ok = verify_password(password, encoded or self._dummy)
        return ok and encoded is not None

    def role(self, username: str) -> str | None:
        """The configured analyst's role (read at start, like the entries), None if unknown."""
        username = unicodedata.normalize("NFC", username)
        if username not in self._hashes:
            return None
        return self._roles.get(username, DEFAULT_ROLE)

    def fingerprint(self, username: str) -> str | None:
        """Stands for the analyst's configured entry in a session: a session made under another
        password hash (reset in the configuration) or of a removed analyst no longer matches."""
        username = unicodedata.normalize("NFC", username)
        encoded = self._hashes.get(username)
        if encoded is None:
            return None
        return hashlib.sha256(f"{username}\0{encoded}".encode()).hexdigest()[:32]
