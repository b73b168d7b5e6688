"""Rule sets through the alerts service's JSON API (/v1/rules), a real server process on
PostgreSQL with the real rule-set registry on disk: scopes rules:read / rules:write / rules:admin,
a text that does not compile refused with its line and column, versions, diff, activation seen by
what the scoring workers read (RuleRegistry.active), rollback, the emergency switch, the decision
log naming the key, and version names that are not versions (a path) refused."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from fraudops.profile_store.commands import StoreConfig
from fraudops.rules.registry import RuleRegistry
from services.common.auth import new_key
from tests.alerts.conftest import alerts_env
from tests.feedback.conftest import postgres_url  # noqa: F401
from tests.services.conftest import Server, free_port

pytestmark = pytest.mark.integration
KEYS = {name: new_key(name, scopes) for name, scopes in (
    ("tools", ["rules:read", "rules:write"]),
    ("reader", ["rules:read"]),
    ("boss", ["rules:read", "rules:admin"]),
)}  # fmt: skip
FIRST = "rule big: review if amount > 2000 and customer_nb_tx_1day >= 5\n"
SECOND = FIRST + "rule ring: decline if terminal_id in @compromised_terminals\n"


def bearer(name: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {KEYS[name][0]}"}


@pytest.fixture
def server(
    postgres_url: str,  # noqa: F811
    store_config: StoreConfig,
    tmp_path: Path,
) -> Iterator[Server]:
    port = free_port()
    env = alerts_env(
        postgres_url,
        store_config.prefix,
        FRAUDOPS_RULES_DIR=str(tmp_path / "rules"),
        FRAUDOPS_ALERTS_PUBLIC_URL=f"http://127.0.0.1:{port}",
        FRAUDOPS_ALERTS_API_KEYS=json.dumps([e for _, e in KEYS.values()]),
    )
    s = Server(env, service="alerts", port=port)
    yield s
    s.stop()


def test_rules_api(server: Server, tmp_path: Path) -> None:
    scoring_reads = RuleRegistry(tmp_path / "rules")  # what every scoring worker polls
    api = httpx.Client(base_url=server.url, timeout=10)
    body = {"text": FIRST, "reason": "big new cards, Friday"}
    assert api.post("/v1/rules", json=body).status_code == 401
    assert api.post("/v1/rules", json=body, headers=bearer("reader")).status_code == 403
    bad = api.post("/v1/rules", json={"text": "review if amount > 'x'", "reason": "typo"},
                   headers=bearer("tools"))  # fmt: skip
    assert bad.status_code == 422 and bad.json()["detail"].startswith("line 1, column 11:"), (
        bad.text
    )
    no_reason = api.post("/v1/rules", json={"text": FIRST}, headers=bearer("tools"))
    assert no_reason.status_code == 422 and "reason" in no_reason.text
    r = api.post("/v1/rules", json=body, headers=bearer("tools"))
    assert r.status_code == 201 and r.json() == {"version": "r1"}, r.text
    assert scoring_reads.active() is None  # a proposal until an admin activates it

    activate = {"reason": "backtest: 12 frauds, 1 legit a day"}
    assert api.post("/v1/rules/r1/activate", json=activate,
                    headers=bearer("tools")).status_code == 403  # fmt: skip
    r = api.post("/v1/rules/r1/activate", json=activate, headers=bearer("boss"))
    assert r.status_code == 200 and r.json() == {"active": "r1"}, r.text
    assert scoring_reads.active() == "r1"

    r = api.post("/v1/rules", json={"text": SECOND, "reason": "the ring"}, headers=bearer("tools"))
    assert r.json() == {"version": "r2"}
    assert api.post("/v1/rules/r2/activate", json=activate, headers=bearer("boss")).is_success
    assert scoring_reads.active() == "r2"
    listing = api.get("/v1/rules", headers=bearer("reader")).json()
    assert listing["active"] == "r2"
    assert [v["version"] for v in listing["versions"]] == ["r2", "r1"]
    assert listing["versions"][1]["reason"] == "big new cards, Friday"
    one = api.get("/v1/rules/r2", headers=bearer("reader")).json()
    assert one["text"] == SECOND and one["backtest"] is None
    diff = api.get("/v1/rules/r1/diff/r2", headers=bearer("reader")).json()["diff"]
    assert "+rule ring: decline if terminal_id in @compromised_terminals" in diff

    r = api.post("/v1/rules/rollback", json={"reason": "too many calls"}, headers=bearer("boss"))
    assert r.json() == {"active": "r1"} and scoring_reads.active() == "r1"
    r = api.post("/v1/rules/deactivate", json={"reason": "incident"}, headers=bearer("boss"))
    assert r.json() == {"active": None} and scoring_reads.active() is None
    log = api.get("/v1/rules", headers=bearer("reader")).json()["log"]
    assert [(e["action"], e["reason"]) for e in log[:2]] == [
        ("deactivate", "incident"), ("rollback", "too many calls")]  # fmt: skip
    assert {e["by"] for e in log} == {"key:tools", "key:boss"}

    # not versions: 404 naming them, never a path read
    for name in ("r9", "r1.json", "0", "r01", "r1 "):
        r = api.get(f"/v1/rules/{name}", headers=bearer("reader"))
        assert r.status_code == 404 and "not found" in r.json()["detail"], (name, r.text)
    assert api.get("/v1/rules/..", headers=bearer("reader")).status_code == 404
    r = api.post("/v1/rules/r9/activate", json=activate, headers=bearer("boss"))
    assert r.status_code == 404
