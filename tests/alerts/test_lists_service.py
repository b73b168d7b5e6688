"""Named lists through the alerts service (issue 22, item 2), a real server process on
PostgreSQL and the real Redis: the JSON API with API keys (scopes lists:read, lists:write,
lists:admin), the console's list pages (CSRF-checked forms, the analyst recorded, delete for an
admin only), values refused with a 4xx naming them, and every change seen at once by the hot
path's reader (ListStore.version / snapshot on Redis)."""

from __future__ import annotations

import json
from collections.abc import Iterator

import httpx
import pytest
import redis

from fraudops.profile_store.commands import StoreConfig
from fraudops.rules.lists import ListCache, ListStore
from services.alerts.analysts import hash_password
from services.common.auth import new_key
from tests.alerts import console_client
from tests.alerts.conftest import alerts_env
from tests.alerts.console_client import PASSWORD, log_out, submit, token_of
from tests.feedback.conftest import postgres_url  # noqa: F401
from tests.services.conftest import Server, free_port

pytestmark = pytest.mark.integration
KEYS = {name: new_key(name, scopes) for name, scopes in (
    ("tools", ["lists:read", "lists:write"]),
    ("reader", ["lists:read"]),
    ("ops", ["lists:read", "lists:admin"]),
)}  # fmt: skip


def bearer(name: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {KEYS[name][0]}"}


@pytest.fixture
def server(postgres_url: str, store_config: StoreConfig) -> Iterator[Server]:  # noqa: F811
    quick = hash_password(PASSWORD, iterations=1000)
    analysts = [{"username": "ana", "password_hash": quick},
                {"username": "root", "password_hash": quick, "role": "admin"}]  # fmt: skip
    port = free_port()
    env = alerts_env(
        postgres_url,
        store_config.prefix,
        FRAUDOPS_ALERTS_ANALYSTS=json.dumps(analysts),
        FRAUDOPS_ALERTS_PUBLIC_URL=f"http://127.0.0.1:{port}",
        FRAUDOPS_ALERTS_API_KEYS=json.dumps([e for _, e in KEYS.values()]),
    )
    s = Server(env, service="alerts", port=port)
    yield s
    s.stop()


def test_lists_api_and_console(
    server: Server, redis_client: redis.Redis, store_config: StoreConfig
) -> None:
    hot_path = ListStore(redis_client, store_config.prefix)  # what a scoring worker reads
    cache = ListCache(hot_path)

    def next_payment() -> dict[str, frozenset[str]]:
        """The lists as a scoring worker sees them for its next payment (one GET)."""
        return dict(cache.at(hot_path.version()))

    assert next_payment() == {}
    api = httpx.Client(base_url=server.url, timeout=10)
    body = {"name": "compromised_terminals", "kind": "terminal", "reason": "ring of Friday"}
    assert api.post("/v1/lists", json=body).status_code == 401
    assert api.post("/v1/lists", json=body, headers=bearer("reader")).status_code == 403
    r = api.post("/v1/lists", json=body, headers=bearer("tools"))
    assert r.status_code == 201 and r.json()["version"] == 1, r.text
    assert api.post("/v1/lists", json=body, headers=bearer("tools")).status_code == 409
    bad = api.post("/v1/lists", json={**body, "name": "Bad-Name"}, headers=bearer("tools"))
    assert bad.status_code == 422 and "list name 'Bad-Name'" in bad.json()["detail"]
    url = "/v1/lists/compromised_terminals"
    # one invalid value refuses the change, naming it
    r = api.post(f"{url}/add", json={"values": ["t-1", "t 2"], "reason": "x"},
                 headers=bearer("tools"))  # fmt: skip
    assert r.status_code == 422 and r.json()["detail"].startswith("value 1 't 2': not a terminal")
    r = api.post(f"{url}/add", json={"values": ["t-1", "t-2"], "reason": "seen in the ring"},
                 headers=bearer("tools"))  # fmt: skip
    assert r.json() == {"version": 2, "added": ["t-1", "t-2"]}
    assert hot_path.version() == 2
    assert next_payment() == {"compromised_terminals": frozenset({"t-1", "t-2"})}
    assert cache.version == 2
    r = api.post(f"{url}/remove", json={"values": ["t-2"], "reason": "merchant cleared"},
                 headers=bearer("tools"))  # fmt: skip
    assert r.json() == {"version": 3, "removed": ["t-2"]}
    got = api.get(url, headers=bearer("reader")).json()
    assert (got["kind"], got["values"], got["created_by"]) == ("terminal", ["t-1"], "key:tools")
    audit = api.get(f"{url}/audit", headers=bearer("reader")).json()["audit"]
    assert [(e["action"], e["who"], e["values"], e["reason"]) for e in audit] == [
        ("remove", "key:tools", ["t-2"], "merchant cleared"),
        ("add", "key:tools", ["t-1", "t-2"], "seen in the ring"),
        ("create", "key:tools", [], "ring of Friday"),
    ]
    assert api.get("/v1/lists/nothing_here", headers=bearer("reader")).status_code == 404
    r = api.post("/v1/lists", json={"name": "risky", "kind": "country", "reason": "x"},
                 headers=bearer("tools"))  # fmt: skip
    assert r.status_code == 201
    r = api.post("/v1/lists/risky/add", json={"values": ["fr", "XX"], "reason": "x"},
                 headers=bearer("tools"))  # fmt: skip
    assert r.status_code == 422 and "value 1 'XX': not an ISO 3166-1" in r.json()["detail"]

    # the console: an analyst adds and removes with a reason, recorded under their name
    ana = httpx.Client(base_url=server.url, timeout=10)
    console_client.log_in(ana, "ana")
    index = ana.get("/console/lists").text
    assert 'href="/console/lists/compromised_terminals"' in index and "risky" in index
    page = f"/console/lists/{body['name']}"
    r = submit(ana, page, f"{page}/add", {"values": "t-3\nt-4 t-1", "reason": "found by ana"})
    assert r.status_code == 200 and "2 value(s) added: t-3, t-4 (version 5)." in r.text
    assert "found by ana" in r.text  # the audit trail on the page
    assert next_payment()["compromised_terminals"] == {"t-1", "t-3", "t-4"}
    r = submit(ana, page, f"{page}/add", {"values": "t{5}", "reason": "typo"})
    assert r.status_code == 422 and "value 0 &#39;t{5}&#39;: not a terminal id" in r.text
    r = submit(ana, page, f"{page}/remove", {"values": "t-4", "reason": ""})
    assert r.status_code == 422 and "a reason is required" in r.text
    # forged: no token
    r = ana.post(f"{page}/remove", data={"values": "t-1", "reason": "x"},
                 headers={"Origin": server.url})  # fmt: skip
    assert r.status_code == 403 and "no csrf_token" in r.json()["detail"]
    # an analyst does not delete a list (a rule naming it would match nothing); an admin does
    assert 'id="delete-list"' not in ana.get(page).text
    r = submit(ana, page, f"{page}/delete", {"reason": "done"})
    assert r.status_code == 403 and "Only an admin deletes a list" in r.text
    r = submit(ana, "/console/lists", "/console/lists",
               {"name": "vip", "kind": "customer", "reason": "top customers"})  # fmt: skip
    assert r.status_code == 200 and "List &#39;vip&#39; created." in r.text
    log_out(ana)
    root = httpx.Client(base_url=server.url, timeout=10)
    console_client.log_in(root, "root")
    assert 'id="delete-list"' in root.get(page).text
    r = submit(root, page, f"{page}/delete", {"reason": "ring closed"})
    assert r.status_code == 200 and "List &#39;compromised_terminals&#39; deleted" in r.text
    assert set(next_payment()) == {"risky", "vip"}
    # the API's delete needs lists:admin, and a reason
    assert (
        api.delete("/v1/lists/vip", params={"reason": "x"}, headers=bearer("tools")).status_code
        == 403
    )
    assert api.delete("/v1/lists/vip", headers=bearer("ops")).status_code == 422
    assert (
        api.delete("/v1/lists/vip", params={"reason": "x"}, headers=bearer("ops")).status_code
        == 200
    )
    listed = api.get("/v1/lists", headers=bearer("reader")).json()
    assert [x["name"] for x in listed["lists"]] == ["risky"] and listed[
        "version"
    ] == hot_path.version()
    # pages render after all that, the audit of the deleted list included
    audit = api.get(f"{url}/audit", headers=bearer("reader")).json()["audit"]
    assert (audit[0]["action"], audit[0]["who"], audit[0]["count"]) == ("delete", "root", 3)
    assert token_of(root.get("/console/lists").text)
