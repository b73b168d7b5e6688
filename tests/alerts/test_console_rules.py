"""The console's rules pages (issue 22, item 5) against the real Redis and database, with the
rule-set registry's test double: versions with author, reason and time, a version's text and
stored backtest, the diff, publishing (errors with line and column), and roles: an analyst
proposes, only an admin activates or rolls back (403 for an analyst); every form CSRF-checked."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from fraudops.profile_store.commands import StoreConfig
from services.alerts.analysts import Analysts, hash_password
from tests.alerts.conftest import alerts_env
from tests.alerts.console_client import PASSWORD, log_in, log_out, submit, token_of
from tests.alerts.rule_registry_double import RuleRegistryDouble

pytestmark = pytest.mark.integration
ORIGIN = "http://testserver"
GOOD = "# the ring of Friday\nrule ring: decline if terminal_id in @compromised_terminals\n"
NEXT = GOOD + "review if amount > 2000 and customer_nb_tx_1day >= 5\n"


def analysts_json() -> str:
    quick = hash_password(PASSWORD, iterations=1000)
    return json.dumps([
        {"username": "ana", "password_hash": quick},  # no role: an analyst
        {"username": "root", "password_hash": quick, "role": "admin"},
    ])  # fmt: skip


@pytest.fixture
def rules_root(tmp_path: Path) -> Path:
    return tmp_path / "rules"


@pytest.fixture
def console(
    tmp_path: Path, rules_root: Path, store_config: StoreConfig, monkeypatch: pytest.MonkeyPatch
) -> Iterator[tuple[TestClient, RuleRegistryDouble]]:
    env = alerts_env(
        f"sqlite:///{tmp_path}/a.db",
        store_config.prefix,
        FRAUDOPS_ALERTS_ANALYSTS=analysts_json(),
        FRAUDOPS_RULES_DIR=str(rules_root),
        FRAUDOPS_ALERTS_PUBLIC_URL=ORIGIN,
    )
    for k, v in env.items():
        monkeypatch.setenv(k, v)
    from services.alerts.app import create_app

    made: list[RuleRegistryDouble] = []

    def registry(root: Path) -> RuleRegistryDouble:
        made.append(RuleRegistryDouble(root))
        return made[-1]

    with TestClient(create_app(rule_sets=registry)) as c:
        assert made[0].root == rules_root  # FRAUDOPS_RULES_DIR
        yield c, made[0]


def test_publish_diff_backtest_and_roles(
    console: tuple[TestClient, RuleRegistryDouble], rules_root: Path
) -> None:
    c, registry = console
    assert c.get("/console/rules", follow_redirects=False).status_code == 303  # log in first
    log_in(c, "ana")
    page = c.get("/console/rules")
    assert page.status_code == 200 and "No rule set published yet." in page.text
    assert 'action="/console/rules/rollback"' not in page.text  # an analyst has no such button
    # a set that does not compile is refused with its position, the text kept in the form
    bad = "review if amount > 10\n  approve everything\n"
    r = submit(c, "/console/rules", "/console/rules", {"text": bad, "reason": "try"})
    assert r.status_code == 422, r.text
    assert "Not published: line 2, column 3: expected decline, review or allow" in r.text
    assert r.text.count("line 2, column 3") == 1
    assert "approve everything" in r.text and registry.versions() == []
    r = submit(c, "/console/rules", "/console/rules", {"text": GOOD, "reason": ""})
    assert r.status_code == 422 and "needs a reason" in r.text
    r = submit(c, "/console/rules", "/console/rules", {"text": GOOD, "reason": "Friday's ring"})
    assert r.status_code == 200 and "Published r1 (not active)." in r.text
    assert "rule ring: decline if terminal_id in @compromised_terminals" in r.text
    submit(c, "/console/rules", "/console/rules", {"text": NEXT, "reason": "big first spends"})
    assert registry.versions() == ["r1", "r2"]
    assert registry.manifest("r2")["author"] == "ana"
    page = c.get("/console/rules").text
    for cell in ("r2", "ana", "big first spends", "2026-12-01T10:00:01Z", "Friday&#39;s ring"):
        assert f"<td>{cell}</td>" in page or f">{cell}</a>" in page, cell
    diff = c.get("/console/rules/diff", params={"a": "r1", "b": "r2"})
    assert diff.status_code == 200
    assert '<span class="add">+review if amount &gt; 2000' in diff.text
    assert c.get("/console/rules/diff", params={"a": "r1", "b": "r9"}).status_code == 404
    assert c.get("/console/rules/r7").status_code == 404
    # the lists a version names, and whether they exist (a missing one matches nothing)
    page = c.get("/console/rules/r1").text
    assert "<td>missing: matches nothing</td>" in page
    c.app.api.state.lists.create("compromised_terminals", "terminal", "ana", "x")  # type: ignore[attr-defined]
    assert "<td>terminal, 0 values</td>" in c.get("/console/rules/r1").text
    # a backtest stored beside the version is shown with it
    assert "None stored with r2" in c.get("/console/rules/r2").text
    (rules_root / "r2").mkdir(parents=True)
    (rules_root / "r2" / "backtest.json").write_text(json.dumps({"set": {"precision": 0.42}}))
    assert '"precision": 0.42' in c.get("/console/rules/r2").text

    # an analyst proposes; activating and rolling back are an admin's: 403, nothing changed
    r = submit(c, "/console/rules/r2", "/console/rules/r2/activate", {"reason": "go"})
    assert (
        r.status_code == 403 and "Only an admin activates a rule set; ana is an analyst" in r.text
    )
    r = submit(c, "/console/rules", "/console/rules/rollback", {"reason": "back"})
    assert r.status_code == 403
    assert registry.aliases()["active"] is None
    log_out(c)

    log_in(c, "root")
    page = c.get("/console/rules/r2").text
    assert 'id="activate"' in page
    token = token_of(page)
    # forged: no token, or another origin -> 403 before anything happens
    r = c.post("/console/rules/r2/activate", data={"reason": "x"}, headers={"Origin": ORIGIN})
    assert r.status_code == 403 and "no csrf_token" in r.json()["detail"]
    r = c.post("/console/rules/r2/activate", data={"reason": "x", "csrf_token": token},
               headers={"Origin": "http://127.0.0.1:3000"})  # fmt: skip
    assert r.status_code == 403 and registry.aliases()["active"] is None
    r = submit(c, "/console/rules/r2", "/console/rules/r2/activate", {"reason": " "})
    assert r.status_code == 422 and registry.aliases()["active"] is None
    r = submit(c, "/console/rules/r9", "/console/rules/r9/activate", {"reason": "x"})
    assert r.status_code == 404
    r = submit(c, "/console/rules/r1", "/console/rules/r1/activate", {"reason": "the ring"})
    assert r.status_code == 200 and "r1 is active." in r.text
    r = submit(c, "/console/rules/r2", "/console/rules/r2/activate", {"reason": "and spends"})
    assert '<span id="active">r2</span>' in r.text
    assert registry.history()[-1] == {
        "action": "activate", "version": "r2", "by": "root", "reason": "and spends"
    }  # fmt: skip
    r = submit(c, "/console/rules", "/console/rules/rollback", {"reason": "too many reviews"})
    assert r.status_code == 200 and "Rolled back: r1 is active." in r.text
    assert "<td>rollback</td><td>r1</td><td>root</td><td>too many reviews</td>" in r.text
    assert registry.aliases()["active"] == "r1"
    r = submit(c, "/console/rules", "/console/rules/rollback", {"reason": "again"})
    assert r.status_code == 422  # the registry's refusal, shown
    assert "Refused: nothing to roll back to: no earlier active rule set" in r.text


def test_without_the_registry_the_rules_pages_say_so(
    tmp_path: Path, store_config: StoreConfig, monkeypatch: pytest.MonkeyPatch
) -> None:
    analysts = analysts_json()
    env = alerts_env(
        f"sqlite:///{tmp_path}/a.db",
        store_config.prefix,
        FRAUDOPS_ALERTS_ANALYSTS=analysts,
        FRAUDOPS_ALERTS_PUBLIC_URL=ORIGIN,
    )
    for k, v in env.items():
        monkeypatch.setenv(k, v)
    from services.alerts.app import create_app

    with TestClient(create_app(rule_sets=lambda root: None)) as c:
        log_in(c, "root")
        r = c.get("/console/rules")
        assert r.status_code == 503 and "rule-set registry" in r.text
        r = submit(c, "/console/rules", "/console/rules", {"text": GOOD, "reason": "x"})
        assert r.status_code == 503


def test_roles_come_from_the_analyst_entries() -> None:
    quick = hash_password(PASSWORD, iterations=1000)
    analysts = Analysts.from_json(analysts_json())
    assert (analysts.role("ana"), analysts.role("root"), analysts.role("eve")) == (
        "analyst", "admin", None
    )  # fmt: skip
    with pytest.raises(ValueError, match="analyst entry 0: role 'owner': one of analyst, admin"):
        Analysts.from_json(json.dumps([{"username": "x", "password_hash": quick, "role": "owner"}]))


def test_the_rules_dir_defaults_beside_the_model_registry(
    tmp_path: Path, store_config: StoreConfig, monkeypatch: pytest.MonkeyPatch
) -> None:
    env = alerts_env(f"sqlite:///{tmp_path}/a.db", store_config.prefix,
                     FRAUDOPS_MODEL_DIR=str(tmp_path / "reg" / "models"))  # fmt: skip
    for k, v in env.items():
        monkeypatch.setenv(k, v)
    monkeypatch.delenv("FRAUDOPS_RULES_DIR", raising=False)
    from services.alerts.app import create_app

    roots: list[Path] = []
    create_app(rule_sets=lambda root: roots.append(root))
    assert roots == [tmp_path / "reg" / "rules"]
