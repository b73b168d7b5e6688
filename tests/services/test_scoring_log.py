"""End to end: the scoring service's decisions reach the feedback database through the scoring
log, and the card holder can label their payment."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from fraudops.features import FEATURE_NAMES
from fraudops.rules.registry import RuleRegistry
from services.feedback.db import ScoredTransaction
from services.feedback.monitoring import Monitor, labelled_decisions
from tests.cli import run_cli
from tests.feedback.conftest import (  # noqa: F401
    bearer,
    database_url,
    feedback,
    feedback_keys,
    label,
    user_token,
)
from tests.services.conftest import PAYMENT, auth

pytestmark = pytest.mark.integration


def test_decisions_are_logged_once_and_can_be_labelled(
    client: TestClient,
    feedback: TestClient,  # noqa: F811
    keys: dict[str, str],
) -> None:
    answers = {}
    for i in range(3):
        tx = {**PAYMENT, "transaction_id": f"log-{i}", "customer_id": f"cust-{i}"}
        r = client.post("/v1/score", json=tx, headers=auth(keys["score"]))
        assert r.status_code == 200
        answers[tx["transaction_id"]] = r.json()
    repeat = {**PAYMENT, "transaction_id": "log-0", "customer_id": "cust-0"}
    assert client.post("/v1/score", json=repeat, headers=auth(keys["score"])).status_code == 200

    # the in-app label arrives before the feedback service polled the log: it drains it first
    r = feedback.post("/v1/feedback", json=label("log-1"), headers=bearer(user_token("cust-1")))
    assert r.status_code == 201, r.text
    feedback.app_ingest()  # type: ignore[attr-defined]
    sessions = feedback.app.api.state.sessions  # type: ignore[attr-defined]
    with sessions() as s:
        rows = {r.transaction_id: r for r in s.query(ScoredTransaction)}
    assert set(rows) == set(answers)
    for tx_id, answer in answers.items():
        row = rows[tx_id]
        assert (row.decision, row.model_version, row.degraded) == (
            answer["decision"], answer["model_version"], False
        )  # fmt: skip
        assert row.score == pytest.approx(answer["score"], abs=1e-6)
        features = json.loads(row.features)
        assert len(features) == len(FEATURE_NAMES)
        assert str(row.amount) == "42.500" and row.terminal_id == PAYMENT["terminal_id"]


def test_monitoring_from_the_scoring_log(
    client: TestClient,
    feedback: TestClient,  # noqa: F811
    keys: dict[str, str],
    registry_dir: Path,
) -> None:
    """Drift against the production model's reference and live quality from labelled decisions,
    as gauges and as the console's JSON."""
    for i in range(40):
        tx = {**PAYMENT, "transaction_id": f"mon-{i}", "customer_id": f"cust-{i % 5}",
              "amount": f"{10 + 7 * i}.00"}  # fmt: skip
        assert client.post("/v1/score", json=tx, headers=auth(keys["score"])).status_code == 200
    analyst = bearer(feedback.app_keys["analyst"])  # type: ignore[attr-defined]
    for i in range(4):
        r = feedback.post("/v1/feedback", json=label(f"mon-{i}", "fraud", "analyst"),
                          headers=analyst)  # fmt: skip
        assert r.status_code == 201
    feedback.app_ingest()  # type: ignore[attr-defined]
    monitor = Monitor(feedback.app.api.state.sessions, registry_dir)  # type: ignore[attr-defined]
    out = monitor.run_once(datetime.now(UTC))
    assert out["model_version"] == "m1" and out["scored_rows"] == 40
    assert set(out["psi"]) == set(FEATURE_NAMES) and out["score_psi"] is not None
    # the window is far from the training data (one terminal, rising amounts): drift shows
    assert max(out["psi"].values()) > 0.25
    q = out["quality"]
    assert q["labelled"] == 4 and q["frauds"] == 4
    assert q["recall"] == sum(1 for i in range(4) if answers_flagged(client, keys, i)) / 4
    assert sum(sum(h[d] for d in ("approve", "review", "decline")) for h in out["timeline"]) == 40
    metrics = feedback.get("/metrics").text
    assert "fraudops_model_feature_psi{" in metrics
    assert "fraudops_model_live_recall" in metrics


def answers_flagged(client: TestClient, keys: dict[str, str], i: int) -> bool:
    """The stored answer of payment mon-i (a repeat answers the same) was review or decline."""
    tx = {**PAYMENT, "transaction_id": f"mon-{i}", "customer_id": f"cust-{i % 5}",
          "amount": f"{10 + 7 * i}.00"}  # fmt: skip
    return (
        client.post("/v1/score", json=tx, headers=auth(keys["score"])).json()["decision"]
        != "approve"
    )


def test_decision_audit_reproduces_the_answer(
    client: TestClient,
    feedback: TestClient,  # noqa: F811
    keys: dict[str, str],
    registry_dir: Path,
    database_url: str,  # noqa: F811
) -> None:
    tx = {**PAYMENT, "transaction_id": "audit-1", "customer_id": "cust-a"}
    answer = client.post("/v1/score", json=tx, headers=auth(keys["score"])).json()
    r = feedback.post(
        "/v1/feedback",
        json=label("audit-1", "fraud", "analyst"),
        headers=bearer(feedback.app_keys["analyst"]),
    )  # type: ignore[attr-defined]
    assert r.status_code == 201
    out = run_cli(
        "explain",
        "audit-1",
        "--json",
        "--database-url",
        database_url,
        "--registry",
        str(registry_dir),
    )
    assert out.returncode == 0, out.stderr
    audit = json.loads(out.stdout)
    assert (audit["decision"], audit["model_version"]) == (answer["decision"], "m1")
    assert audit["reproduced"] is True
    assert audit["recomputed_score"] == pytest.approx(answer["score"], abs=1e-6)
    assert audit["reasons"] == answer["reasons"]
    assert set(audit["features"]) == set(FEATURE_NAMES)
    assert audit["effective_label"] == "fraud" and audit["labels"][0]["source"] == "analyst"
    text = run_cli(
        "explain", "audit-1", "--database-url", database_url, "--registry", str(registry_dir)
    ).stdout
    assert "reproduced" in text and "thresholds review" in text and "tx_amount" in text
    missing = run_cli("explain", "nope", "--database-url", database_url)
    assert missing.returncode == 1 and "not in the scoring log" in missing.stderr


def test_the_rules_reach_the_feedback_database_and_the_model_is_judged_alone(
    client: TestClient,
    feedback: TestClient,  # noqa: F811
    keys: dict[str, str],
    registry_dir: Path,
    database_url: str,  # noqa: F811
) -> None:
    """With a rule set active, the database keeps the version, the rules that fired and the
    model's own decision; the live precision that may trigger a retrain and the decision audit
    read the model's decision, not the rule's."""
    rules = RuleRegistry(registry_dir.parent / "rules")  # the service's default rules root
    rules.activate(rules.publish('rule ring: decline if terminal_id == "term-ring"\n', "ana",
                                 "the ring"), "boss", "go")  # fmt: skip
    ring = {**PAYMENT, "terminal_id": "term-ring"}
    deadline, n = time.monotonic() + 10, 0
    while True:  # the worker polls the registry every 0.2 s here
        n += 1
        answer = client.post("/v1/score", json={**ring, "transaction_id": f"probe-{n}"},
                             headers=auth(keys["score"])).json()  # fmt: skip
        if answer["rules"] == ["ring"] or time.monotonic() > deadline:
            break
    assert answer["rules"] == ["ring"] and answer["decision"] == "decline"
    sent = {"ring-1": ring, "ring-2": ring, "calm-1": PAYMENT}
    for tx_id, tx in sent.items():
        r = client.post("/v1/score", json={**tx, "transaction_id": tx_id},
                        headers=auth(keys["score"]))  # fmt: skip
        assert r.status_code == 200
        r = feedback.post("/v1/feedback", json=label(tx_id, "fraud", "analyst"),
                          headers=bearer(feedback.app_keys["analyst"]))  # type: ignore[attr-defined]  # fmt: skip
        assert r.status_code == 201, r.text
    feedback.app_ingest()  # type: ignore[attr-defined]
    sessions = feedback.app.api.state.sessions  # type: ignore[attr-defined]
    with sessions() as s:
        rows = {r.transaction_id: r for r in s.query(ScoredTransaction)}
        model = labelled_decisions(s, datetime.now(UTC) - timedelta(hours=1))
    for tx_id in ("ring-1", "ring-2"):
        row = rows[tx_id]
        assert (row.decision, row.rules_version, json.loads(row.rules_fired)) == (
            "decline", "r1", ["ring"])  # fmt: skip
        assert row.model_decision in ("approve", "review", "decline")
    calm = rows["calm-1"]
    assert (calm.rules_version, json.loads(calm.rules_fired)) == ("r1", [])
    assert calm.model_decision == calm.decision
    assert rows["ring-1"].model_decision != "decline"  # the model alone let the ring through
    expected = sorted(rows[t].model_decision for t in sent)
    assert sorted(model["decision"]) == expected  # not the rule's declines
    out = run_cli("explain", "ring-1", "--json", "--database-url", database_url,
                  "--registry", str(registry_dir))  # fmt: skip
    audit = json.loads(out.stdout)
    assert (audit["decision"], audit["rules_fired"], audit["model_decision"]) == (
        "decline", ["ring"], rows["ring-1"].model_decision)  # fmt: skip
