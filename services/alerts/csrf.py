"""Cross-site request forgery protection for the console's form POSTs (login and labels).
SameSite=strict keeps the session cookie from other sites, but not from a same-site page (another
port on the host, a sibling host such as Grafana); three checks close that, in this order:

1. Origin: ``Origin`` (or, without it, the origin of ``Referer``) must be the console's own origin,
   taken from ``FRAUDOPS_ALERTS_PUBLIC_URL``; a POST with neither is refused (403).
2. Content type: only ``application/x-www-form-urlencoded`` (what the console's forms send), so a
   ``text/plain`` no-cors fetch is refused (415).
3. Token: a synchronizer token kept in the session, rendered as a hidden field in every form and
   compared in constant time (403 when missing or wrong).
"""

from __future__ import annotations

import hmac
import logging
import secrets
from urllib.parse import parse_qs, urlsplit

from fastapi import HTTPException, Request
from markupsafe import Markup, escape

from services.alerts.metrics import ERRORS

FIELD = "csrf_token"
SESSION_KEY = "csrf"
FORM_TYPE = "application/x-www-form-urlencoded"
MAX_FIELDS = 20  # the console's forms have at most 4
log = logging.getLogger("fraudops.alerts.csrf")


def _refused(status: int, check: str, detail: str) -> HTTPException:
    """Counted in fraudops_alerts_errors_total{kind="csrf"} and logged by check (never the
    headers' values: a Referer may carry anything)."""
    ERRORS.labels("csrf").inc()
    log.warning("console POST refused: %s", check)
    return HTTPException(status, f"refused: {detail}")


def origin_of(url: str) -> str | None:
    """``scheme://host[:port]`` of a URL, lower case, default port dropped (as browsers send
    ``Origin``); None when the URL has no scheme or host."""
    try:
        parts = urlsplit(url.strip())
        port = parts.port
    except ValueError:
        return None
    scheme, host = parts.scheme.lower(), (parts.hostname or "").lower()
    if scheme not in ("http", "https") or not host:
        return None
    if ":" in host:
        host = f"[{host}]"
    default = {"http": 80, "https": 443}[scheme]
    return f"{scheme}://{host}" + (f":{port}" if port is not None and port != default else "")


def token(request: Request) -> str:
    """This session's token, made on first use."""
    value = request.session.get(SESSION_KEY)
    if not isinstance(value, str) or not value:
        value = secrets.token_urlsafe(32)
        request.session[SESSION_KEY] = value
    return value


def field(request: Request) -> Markup:
    """The hidden form field carrying the token (a template global)."""
    return Markup('<input type="hidden" name="{}" value="{}">').format(
        FIELD, escape(token(request))
    )


def _check_origin(request: Request) -> None:
    expected: str = request.app.state.console_origin
    sent = request.headers.get("origin")
    what = "Origin"
    if sent is None:
        referer = request.headers.get("referer")
        if referer is None:
            raise _refused(403, "origin", "a console POST needs an Origin or Referer header")
        sent, what = origin_of(referer) or referer, "Referer"
    if sent.strip().lower() != expected:
        raise _refused(
            403,
            "origin",
            f"{what} {sent[:100]!r} is not the console's origin {expected!r} "
            "(FRAUDOPS_ALERTS_PUBLIC_URL)",
        )


def _check_type(request: Request) -> None:
    media = request.headers.get("content-type", "").split(";", 1)[0].strip().lower()
    if media != FORM_TYPE:
        raise _refused(415, "content type", f"a console form must be sent as {FORM_TYPE}")


async def form(request: Request) -> dict[str, str]:
    """The posted form (first value of each field) once the origin, the content type and the
    token have passed; HTTPException (403, 415, 413) naming the failed check otherwise."""
    _check_origin(request)
    _check_type(request)
    body = (await request.body()).decode("utf-8", errors="replace")
    try:
        fields = parse_qs(body, max_num_fields=MAX_FIELDS)
    except ValueError:
        ERRORS.labels("invalid").inc()
        raise HTTPException(413, f"a console form has at most {MAX_FIELDS} fields") from None
    out = {k: v[0] for k, v in fields.items()}
    expected = request.session.get(SESSION_KEY) if "session" in request.scope else None
    sent = out.pop(FIELD, "")
    if not isinstance(expected, str) or not expected:
        raise _refused(403, "token", "this session has no CSRF token (reload the page)")
    if not sent:
        raise _refused(403, "token", f"the form has no {FIELD} (reload the page)")
    if not hmac.compare_digest(sent.encode(), expected.encode()):
        raise _refused(403, "token", f"the form's {FIELD} is wrong (reload the page)")
    return out
