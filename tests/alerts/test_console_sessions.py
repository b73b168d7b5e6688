"""Console sessions can be ended (issue 20, item 4), against the real server and Redis: a cookie
copied before logout, or before a second login (a new session id), is refused afterwards; an
analyst removed from the configuration is refused after the restart with a live session; with
Redis away the console answers 503, never 500."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import httpx
import pytest
import redis

from fraudops.profile_store.commands import StoreConfig
from services.alerts.analysts import Analysts, hash_password
from services.alerts.sessions import SessionStore
from tests.alerts import console_client
from tests.alerts.conftest import alerts_client, alerts_env
from tests.alerts.console_client import PASSWORD, log_out, token_of
from tests.services.conftest import RedisServer, Server, free_port, own_redis  # noqa: F401

pytestmark = [pytest.mark.integration, pytest.mark.slow]
COOKIE = "fraudops_console"


# few iterations: the count is in each hash, and the tests need no cost
ENTRIES = {n: hash_password(PASSWORD, iterations=1000) for n in ("ana", "bob")}


def analysts(*names: str) -> str:
    return json.dumps([{"username": n, "password_hash": ENTRIES[n]} for n in names])


def log_in(url: str, user: str) -> httpx.Client:
    client = httpx.Client(base_url=url)
    console_client.log_in(client, user)
    return client


def queue_with(url: str, cookie: str) -> int:
    """The queue's status for a request carrying just this cookie (303: back to the login)."""
    return httpx.get(url + "/console", cookies={COOKIE: cookie}).status_code


def session_of(cookie: str) -> dict[str, str]:
    """The signed cookie's payload (base64 JSON before the first dot)."""
    payload = cookie.split(".")[0]
    data: dict[str, str] = json.loads(base64.b64decode(payload + "=" * (-len(payload) % 4)))
    return data


def test_logout_relogin_and_removal_end_sessions(tmp_path: Path, store_config: StoreConfig) -> None:
    def server(names: tuple[str, ...]) -> Server:
        db = f"sqlite:///{tmp_path}/alerts.db"
        port = free_port()
        env = alerts_env(db, store_config.prefix, FRAUDOPS_ALERTS_ANALYSTS=analysts(*names),
                         FRAUDOPS_ALERTS_PUBLIC_URL=f"http://127.0.0.1:{port}")  # fmt: skip
        return Server(env, service="alerts", port=port)

    first = server(("ana", "bob"))
    try:
        ana = log_in(first.url, "ana")
        before = ana.cookies[COOKIE]
        assert "user" not in session_of(before)  # the cookie names no analyst, only a session
        assert queue_with(first.url, before) == 200
        # logging in again gives a new session id and ends the one the cookie had
        console_client.log_in(ana)
        after = ana.cookies[COOKIE]
        assert session_of(after)["sid"] != session_of(before)["sid"]
        assert queue_with(first.url, before) == 303
        assert queue_with(first.url, after) == 200
        assert log_out(ana).status_code == 303
        assert queue_with(first.url, after) == 303  # the copy taken before logout is refused
        bob = log_in(first.url, "bob").cookies[COOKIE]
        kept = log_in(first.url, "ana").cookies[COOKIE]
        assert queue_with(first.url, bob) == 200
    finally:
        first_out = first.stop()
    second = server(("ana",))  # bob is removed from the configuration
    try:
        r = httpx.get(second.url + "/console", cookies={COOKIE: bob})
        assert r.status_code == 303 and r.headers["location"] == "/console/login"
        assert queue_with(second.url, kept) == 200  # the others' sessions outlive a restart
    finally:
        out = second.stop()
    assert "Traceback" not in first_out + out


def test_redis_away_means_503_pages_not_500(
    tmp_path: Path,
    own_redis: RedisServer,  # noqa: F811
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    env = alerts_env(
        f"sqlite:///{tmp_path}/alerts.db",
        "t",
        REDIS_URL=f"redis://127.0.0.1:{own_redis.port}/0",
        FRAUDOPS_ALERTS_ANALYSTS=analysts("ana"),
        FRAUDOPS_ALERTS_PUBLIC_URL="http://testserver",  # TestClient's base URL
    )
    with alerts_client(env, monkeypatch) as c:
        console_client.log_in(c)
        form = {
            "username": "ana",
            "password": PASSWORD,
            "csrf_token": token_of(c.get("/console").text),
        }
        own_redis.kill()
        origin = {"Origin": console_client.origin(c)}
        for r in (
            c.get("/console"),
            c.get("/console/logout"),
            c.post("/console/logout", data=form, headers=origin),
            c.post("/console/login", data=form, headers=origin),
        ):
            assert r.status_code == 503, r.text
            assert r.headers["retry-after"] == "5"
            assert "session store (Redis) is unreachable" in r.text
        c.cookies.clear()
        r = console_client.login(c)
        assert r.status_code == 503 and "unreachable" in r.text
        assert c.get("/console/login").status_code == 200  # the page itself needs no Redis
        assert c.get("/healthz").status_code == 200


def test_a_new_password_hash_ends_the_analysts_sessions(
    redis_client: redis.Redis, store_config: StoreConfig
) -> None:
    store = SessionStore(redis_client, store_config.prefix, 60)
    configured = Analysts(dict(ENTRIES))
    sid = store.create("ana", str(configured.fingerprint("ana")))
    assert store.user(sid, configured) == "ana"
    reset = Analysts({**ENTRIES, "ana": hash_password("a new password, long", iterations=1000)})
    assert store.user(sid, reset) is None
    assert store.user(sid, configured) is None  # and the session is gone for good
    assert 0 < redis_client.ttl(store._key(store.create("bob", "f"))) <= 60
