"""Console forms posted the way a browser posts them: GET the page (the session cookie and its
CSRF token), then POST the form with the token and the page's Origin. One home for the tests of
tests/alerts; works with an httpx.Client (a real server) and with a TestClient (a subclass)."""

from __future__ import annotations

import re

import httpx

from services.alerts.csrf import origin_of

PASSWORD = "correct horse battery staple"
TOKEN = re.compile(r'name="csrf_token" value="([^"]+)"')


def token_of(page: str) -> str:
    """The page's CSRF token ("" when it has none: the other checks still run)."""
    found = TOKEN.search(page)
    return found.group(1) if found else ""


def origin(client: httpx.Client) -> str:
    """What a browser on the client's base URL sends as Origin."""
    return origin_of(str(client.base_url)) or ""


def submit(client: httpx.Client, page: str, action: str, data: dict[str, str]) -> httpx.Response:
    """Opens ``page`` and posts its form to ``action`` (redirects not followed)."""
    token = token_of(client.get(page).text)
    return client.post(action, data={**data, "csrf_token": token},
                       headers={"Origin": origin(client)}, follow_redirects=False)  # fmt: skip


def login(client: httpx.Client, user: str = "ana", password: str = PASSWORD) -> httpx.Response:
    """The login form, filled in and sent (303 on success, else the login page's answer)."""
    return submit(
        client, "/console/login", "/console/login", {"username": user, "password": password}
    )


def log_in(client: httpx.Client, user: str = "ana", password: str = PASSWORD) -> None:
    r = login(client, user, password)
    assert r.status_code == 303 and r.headers["location"] == "/console", r.text


def log_out(client: httpx.Client) -> httpx.Response:
    """The header's log out button of the queue page."""
    return submit(client, "/console", "/console/logout", {})
