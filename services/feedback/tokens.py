"""In-app user tokens: a JWT (HS256) whose subject is the card holder, short-lived, signed with a
secret only the banking app's backend and this service share (``FRAUDOPS_FEEDBACK_TOKEN_SECRET``).
"""

from __future__ import annotations

from datetime import datetime, timedelta

import jwt

ALGORITHM = "HS256"
AUDIENCE = "fraudops-feedback"
MAX_LIFETIME = timedelta(days=1)  # a token valid longer than this is refused


class TokenError(ValueError):
    """Why a token was refused (safe to return to the caller: it names no secret)."""


def issue(
    secret: str, customer_id: str, now: datetime, ttl: timedelta = timedelta(minutes=15)
) -> str:
    claims = {"sub": customer_id, "aud": AUDIENCE, "iat": now, "exp": now + ttl}
    return jwt.encode(claims, secret, algorithm=ALGORITHM)


def verify(secret: str, token: str, now: datetime) -> str:
    """The customer id the token speaks for, or TokenError."""
    try:
        claims = jwt.decode(
            token,
            secret,
            algorithms=[ALGORITHM],  # never "none", never an algorithm the token chooses
            audience=AUDIENCE,
            options={"require": ["sub", "exp", "iat", "aud"], "verify_exp": False},
        )
    except jwt.InvalidSignatureError:
        raise TokenError("token signature is invalid") from None
    except jwt.InvalidAudienceError:
        raise TokenError("token is not for this service (aud)") from None
    except jwt.MissingRequiredClaimError as exc:
        raise TokenError(f"token lacks the '{exc.claim}' claim") from None
    except jwt.PyJWTError as exc:
        raise TokenError(f"token is malformed: {type(exc).__name__}") from None
    exp, iat = claims["exp"], claims["iat"]
    if not isinstance(exp, int | float) or not isinstance(iat, int | float):
        raise TokenError("token 'exp'/'iat' must be numeric dates")
    if now.timestamp() >= exp:
        raise TokenError("token has expired")
    if exp - iat > MAX_LIFETIME.total_seconds():
        raise TokenError("token lifetime exceeds one day")
    sub = claims["sub"]
    if not isinstance(sub, str) or not sub:
        raise TokenError("token subject must be a customer id")
    return sub
