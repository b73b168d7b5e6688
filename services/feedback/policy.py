"""Who may label and read what: analysts, chargeback feeds and the console with API keys (scoped
per source), card holders with a signed user token that names the only customer they may label
for. Kept apart from the routes so the rule reads in one place."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from fastapi import HTTPException

from services.common import actors
from services.common.auth import ApiKey, KeyRing, bearer_token
from services.feedback import tokens
from services.feedback.metrics import ERRORS

ON_BEHALF = "label:on-behalf"


@dataclass(frozen=True)
class Caller:
    actor: str  # what the label event records: "key", "key:analyst" or "customer:<id>"
    owner: str | None  # the customer the caller may label for; None = any
    key: str | None = None  # the API key's name; None for a user token


@dataclass(frozen=True)
class LabelPolicy:
    """Built once per app from its configuration; the routes ask it, never the key ring."""

    keys: KeyRing
    token_secret: str | None  # None: in-app labels are refused (503)
    clock: Callable[[], datetime]

    def labeller(self, source: str, authorization: str | None, on_behalf: str | None) -> Caller:
        """The caller of a label from ``source``. A key with the scope ``label:on-behalf`` (the
        console) names the analyst it acts for (percent-encoded UTF-8, the rule of
        ``services.common.actors``): actor "key:analyst"."""
        if source != "in_app":
            key = self.keys.authorize(authorization, f"label:{source}")
            if on_behalf and ON_BEHALF in key.scopes:
                analyst = actors.from_header(on_behalf)
                if analyst is None:
                    raise HTTPException(
                        422, f"X-Fraudops-Actor: percent-encoded UTF-8, {actors.RULE}"
                    )
                return Caller(f"{key.name}:{analyst}", None, key.name)
            return Caller(key.name, None, key.name)
        return self._card_holder(authorization)

    def _card_holder(self, authorization: str | None) -> Caller:
        if self.token_secret is None:
            raise HTTPException(503, "in-app labels are not enabled on this service")
        user_token = bearer_token(authorization)
        if user_token is None:
            raise HTTPException(
                401,
                "in-app labels need 'Authorization: Bearer <user token>'",
                headers={"WWW-Authenticate": "Bearer"},
            )
        try:
            customer = tokens.verify(self.token_secret, user_token, self.clock())
        except tokens.TokenError as exc:
            ERRORS.labels("token").inc()
            raise HTTPException(
                401, f"user token refused: {exc}", headers={"WWW-Authenticate": "Bearer"}
            ) from None
        return Caller(f"customer:{customer}", customer)

    def reader(self, authorization: str | None, scopes: set[str], named: str) -> ApiKey:
        """A key carrying any of ``scopes`` (else 403 naming the scope ``named``)."""
        key = self.keys.authenticate(authorization)
        if not key.scopes & scopes:
            raise HTTPException(403, f"API key '{key.name}' lacks the '{named}' scope")
        return key

    def warn_gaps(self, log: logging.Logger) -> None:
        """Say at start-up which callers this configuration will refuse."""
        if not len(self.keys):
            log.warning("no API keys configured: analyst and chargeback labels will get 401")
        if self.token_secret is None:
            log.warning("FRAUDOPS_FEEDBACK_TOKEN_SECRET unset: in-app labels are refused (503)")
