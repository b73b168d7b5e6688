"""The console's form POSTs against cross-site request forgery (token, Origin, content type) and
the input that used to answer 500: too many form fields, alert ids beyond the database's integer
range (SQLite and PostgreSQL). TestClient against the real app, database and Redis."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
from fastapi.testclient import TestClient
from prometheus_client import REGISTRY

from fraudops.profile_store.commands import StoreConfig
from services.alerts.analysts import hash_password
from services.alerts.db import Alert
from tests.alerts.conftest import alerts_client, alerts_env
from tests.alerts.console_client import PASSWORD, log_in, log_out, token_of

pytestmark = pytest.mark.integration
ORIGIN = "http://testserver"  # TestClient's base URL, the console's public URL here
FORM = "application/x-www-form-urlencoded"


def env(database_url: str, prefix: str) -> dict[str, str]:
    analysts = [{"username": "ana", "password_hash": hash_password(PASSWORD, iterations=1000)}]
    return alerts_env(
        database_url,
        prefix,
        FRAUDOPS_ALERTS_ANALYSTS=json.dumps(analysts),
        FRAUDOPS_ALERTS_PUBLIC_URL=ORIGIN + "/",
    )


def add_alert(c: TestClient, tx: str) -> int:
    now = datetime.now(UTC)
    alert = Alert(transaction_id=tx, customer_id="c", terminal_id="t", timestamp=now, amount=10,
                  currency="EUR", channel="ecommerce", score=0.9, decision="review",
                  model_version="m1", reasons="[]", features="[]", tags="high_score",
                  severity="page", created_at=now, status="open")  # fmt: skip
    with c.app.api.state.sessions.begin() as s:  # type: ignore[attr-defined]
        s.add(alert)
        s.flush()
        return int(alert.id)


def status_of(c: TestClient, alert_id: int) -> str:
    with c.app.api.state.sessions() as s:  # type: ignore[attr-defined]
        return str(s.get(Alert, alert_id).status)


def refusals() -> float:
    return REGISTRY.get_sample_value("fraudops_alerts_errors_total", {"kind": "csrf"}) or 0.0


@pytest.fixture
def console(
    tmp_path: Any, store_config: StoreConfig, monkeypatch: pytest.MonkeyPatch
) -> Iterator[TestClient]:
    with alerts_client(env(f"sqlite:///{tmp_path}/a.db", store_config.prefix), monkeypatch) as c:
        yield c


def test_login_needs_the_token_and_the_origin(console: TestClient) -> None:
    token = token_of(console.get("/console/login").text)
    assert len(token) >= 32
    creds = {"username": "ana", "password": PASSWORD}

    def login(headers: dict[str, str], **extra: str) -> Any:
        return console.post("/console/login", data={**creds, **extra}, headers=headers,
                            follow_redirects=False)  # fmt: skip

    r = login({"Origin": ORIGIN})
    assert (r.status_code, r.json()["detail"]) == (
        403, "refused: the form has no csrf_token (reload the page)"
    )  # fmt: skip
    assert login({"Origin": ORIGIN}, csrf_token="x" + token).status_code == 403
    r = login({"Origin": "http://127.0.0.1:9999"}, csrf_token=token)
    assert r.status_code == 403 and "Origin 'http://127.0.0.1:9999'" in r.json()["detail"]
    assert console.get("/console", follow_redirects=False).status_code == 303  # not logged in
    assert login({"Origin": ORIGIN}, csrf_token=token).status_code == 303
    assert console.get("/console", follow_redirects=False).status_code == 200
    renewed = token_of(console.get("/console").text)  # a login makes the session's token anew
    assert renewed and renewed != token


def test_logout_is_a_post_of_the_console_itself(console: TestClient) -> None:
    log_in(console)
    page = console.get("/console/logout")  # a link (or an <img>) to it logs nobody out
    assert page.status_code == 200 and 'id="confirm-logout"' in page.text
    token = token_of(console.get("/console").text)
    assert 'action="/console/logout"' in console.get("/console").text  # the header's button
    for headers in ({"Origin": "http://127.0.0.1:3000"}, {"Referer": "http://grafana.test/"}, {}):
        r = console.post("/console/logout", data={"csrf_token": token}, headers=headers)
        assert r.status_code == 403 and "refused: " in r.json()["detail"]
    r = console.post("/console/logout", data={"csrf_token": "forged"}, headers={"Origin": ORIGIN})
    assert r.status_code == 403
    assert console.get("/console", follow_redirects=False).status_code == 200  # still logged in
    assert log_out(console).status_code == 303
    assert console.get("/console", follow_redirects=False).status_code == 303
    # the token of the ended session is gone with it
    r = console.post("/console/logout", data={"csrf_token": token}, headers={"Origin": ORIGIN})
    assert r.status_code == 403 and "has no CSRF token" in r.json()["detail"]
    assert console.get("/console/logout", follow_redirects=False).status_code == 303
    log_in(console)  # and the login page makes a new one
    assert console.get("/console", follow_redirects=False).status_code == 200


def test_label_is_refused_without_token_origin_or_form_type(console: TestClient) -> None:
    log_in(console)
    alert_id = add_alert(console, "csrf-1")
    url = f"/console/alerts/{alert_id}/label"
    token = token_of(console.get(f"/console/alerts/{alert_id}").text)
    ok = {"Origin": ORIGIN, "Content-Type": FORM}

    def post(body: str, headers: dict[str, str]) -> tuple[int, str]:
        r = console.post(url, content=body, headers=headers, follow_redirects=False)
        detail = r.json()["detail"] if r.status_code in (403, 413, 415) else r.text
        return r.status_code, detail

    good = f"label=fraud&csrf_token={token}"
    counted = refusals()
    refused = [
        (post("label=fraud", ok), (403, "refused: the form has no csrf_token (reload the page)")),
        (post("label=fraud&csrf_token=forged", ok),
         (403, "refused: the form's csrf_token is wrong (reload the page)")),
        (post("label=fraud&csrf_token=%C3%A9t%C3%A9", ok),
         (403, "refused: the form's csrf_token is wrong (reload the page)")),
        (post(good, {**ok, "Origin": "http://127.0.0.1:3000"}),
         (403, "refused: Origin 'http://127.0.0.1:3000' is not the console's origin "
               "'http://testserver' (FRAUDOPS_ALERTS_PUBLIC_URL)")),
        (post(good, {**ok, "Origin": "null"}),
         (403, "refused: Origin 'null' is not the console's origin 'http://testserver' "
               "(FRAUDOPS_ALERTS_PUBLIC_URL)")),
        (post(good, {"Content-Type": FORM}),
         (403, "refused: a console POST needs an Origin or Referer header")),
        (post(good, {"Content-Type": FORM, "Referer": "http://grafana.testserver/d/x"}),
         (403, "refused: Referer 'http://grafana.testserver' is not the console's origin "
               "'http://testserver' (FRAUDOPS_ALERTS_PUBLIC_URL)")),
        (post(good, {**ok, "Content-Type": "text/plain"}),
         (415, "refused: a console form must be sent as application/x-www-form-urlencoded")),
        (post(good, {**ok, "Content-Type": "multipart/form-data; boundary=x"}),
         (415, "refused: a console form must be sent as application/x-www-form-urlencoded")),
    ]  # fmt: skip
    assert [got for got, _ in refused] == [want for _, want in refused]
    assert refusals() == counted + len(refused)
    assert status_of(console, alert_id) == "open"
    # the console's own form passes every check (no feedback key here: nothing is stored)
    referer = {"Content-Type": f"{FORM}; charset=utf-8", "Referer": f"{ORIGIN}/console/alerts/1"}
    for headers in (ok, referer):
        status, page = post(good, headers)
        assert status == 200 and "Labels are disabled" in page, page


def test_a_form_with_too_many_fields_is_413_not_500(console: TestClient) -> None:
    log_in(console)
    alert_id = add_alert(console, "fields-1")
    token = token_of(console.get(f"/console/alerts/{alert_id}").text)
    url = f"/console/alerts/{alert_id}/label"
    headers = {"Origin": ORIGIN, "Content-Type": FORM}
    padding = "".join(f"&x{i}=1" for i in range(10))  # 12 fields: accepted (the limit is 20)
    r = console.post(url, content=f"label=fraud&csrf_token={token}{padding}", headers=headers)
    assert r.status_code == 200 and "Labels are disabled" in r.text
    padding = "".join(f"&x{i}=1" for i in range(30))
    r = console.post(url, content=f"label=fraud&csrf_token={token}{padding}", headers=headers)
    assert (r.status_code, r.json()["detail"]) == (
        413, "a console form has at most 20 fields"
    )  # fmt: skip
    assert status_of(console, alert_id) == "open"


def test_alert_ids_beyond_the_integer_range_are_404(
    database_url: str, store_config: StoreConfig, monkeypatch: pytest.MonkeyPatch
) -> None:
    with alerts_client(env(database_url, store_config.prefix), monkeypatch) as c:
        log_in(c)
        alert_id = add_alert(c, "range-1")
        token = token_of(c.get(f"/console/alerts/{alert_id}").text)
        for bad in ("99999999999999999999", "-99999999999999999999", str(2**63)):
            assert c.get(f"/console/alerts/{bad}").status_code == 404
            r = c.post(f"/console/alerts/{bad}/label", data={"label": "fraud", "csrf_token": token},
                       headers={"Origin": ORIGIN})  # fmt: skip
            assert r.status_code == 404 and "No such alert." in r.text
        assert c.get(f"/console/alerts/{2**63 - 1}").status_code == 404  # in range, no such id
        assert c.get(f"/console/alerts/{alert_id}").status_code == 200


@pytest.mark.parametrize(
    ("url", "origin"),
    [
        ("http://127.0.0.1:8002/", "http://127.0.0.1:8002"),
        ("https://Console.Bank.example:443/fraud/", "https://console.bank.example"),
        ("http://console:80", "http://console"),
        ("http://[::1]:8002/console", "http://[::1]:8002"),
        ("console.bank.example", None),
        ("ftp://console", None),
        ("http://console:99999", None),
    ],
)
def test_the_console_origin_is_what_browsers_send(url: str, origin: str | None) -> None:
    from services.alerts.csrf import origin_of

    assert origin_of(url) == origin
