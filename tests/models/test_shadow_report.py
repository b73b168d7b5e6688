"""``fraudops models shadow-report`` and ``fraudops promote --gate shadow`` (issue 19, item 2) on a
feedback database holding shadow-scored, labelled payments."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import average_precision_score

from models.commands.shadow_report import strict
from models.registry import Registry
from models.shadow import average_precision, compare, labelled_pairs
from services.feedback.db import (
    EffectiveLabel,
    ScoredTransaction,
    make_engine,
    session_factory,
    upgrade,
)
from tests.cli import run_cli

pytestmark = [pytest.mark.slow, pytest.mark.integration]  # the real commands, as subprocesses
N = 300


def decision(score: float) -> str:
    return "decline" if score >= 0.8 else "review" if score >= 0.5 else "approve"


@pytest.fixture
def shadow_db(tmp_path: Path) -> tuple[str, dict[str, np.ndarray]]:
    """N labelled payments scored by m1 and shadow-scored by m2 (the better model), plus some
    not labelled or not shadow-scored (left out of the comparison); a rule set declined some."""
    rng = np.random.default_rng(7)
    y = (rng.random(N) < 0.15).astype(int)
    champ = np.clip(0.3 * y + rng.random(N) * 0.7, 0, 1)
    chall = np.clip(0.5 * y + rng.random(N) * 0.5, 0, 1)
    amount = np.round(rng.random(N) * 500, 3)
    url = f"sqlite:///{tmp_path}/feedback.db"
    engine = make_engine(url)
    upgrade(engine)
    now = datetime(2026, 11, 26, tzinfo=UTC)
    with session_factory(engine).begin() as s:
        for i in range(N + 20):
            labelled, shadowed = i < N or i % 2, i < N or i % 2 == 0
            k = i % N
            # every 5th payment: a rule declined it; the model is judged on its own decision
            ruled = i % 5 == 0
            s.add(ScoredTransaction(
                transaction_id=f"t{i:04d}", timestamp=now, customer_id=f"c{i}", terminal_id="x",
                amount=float(amount[k]), score=float(champ[k]),
                decision="decline" if ruled else decision(champ[k]),
                model_decision=decision(champ[k]) if ruled else None,
                rules_version="r1" if ruled else None,
                rules_fired='["ring"]' if ruled else None,
                model_version="m1", degraded=False, features="[]", scored_at=now,
                shadow_model_version="m2" if shadowed else None,
                shadow_score=float(chall[k]) if shadowed else None,
                shadow_decision=decision(chall[k]) if shadowed else None,
            ))  # fmt: skip
            s.flush()
            if labelled:
                tag = "fraud" if y[k] else "legit"
                s.add(EffectiveLabel(transaction_id=f"t{i:04d}", event_id=i, arrived_at=now,
                                     label=tag, source="analyst"))  # fmt: skip
    engine.dispose()
    return url, {"y": y, "champ": champ, "chall": chall, "amount": amount}


@pytest.fixture
def registry(tmp_path: Path) -> Path:
    root = tmp_path / "models"
    for v in ("m1", "m2"):
        (root / v).mkdir(parents=True)
        (root / v / "manifest.json").write_text(json.dumps({"version": v}))
    reg = Registry(root)
    reg.set_production("m1", "setup")
    reg.set_challenger("m2")
    return root


def recall_top(y: np.ndarray, s: np.ndarray, k: int) -> float:
    return float(y[np.argsort(-s, kind="stable")[:k]].sum() / y.sum())


def test_shadow_report_equals_a_direct_computation(
    shadow_db: tuple[str, dict[str, np.ndarray]], registry: Path
) -> None:
    url, d = shadow_db
    args = ("models", "shadow-report", "--json", "--database-url", url, "--registry",
            str(registry), "--resamples", "200")  # fmt: skip
    r = run_cli(*args)
    assert r.returncode == 0, r.stderr
    got = json.loads(r.stdout)
    y, champ, chall, amount = d["y"], d["champ"], d["chall"], d["amount"]
    dc, ds = np.array([decision(x) for x in champ]), np.array([decision(x) for x in chall])
    budget = int((dc != "approve").sum())
    assert (got["challenger"], got["champions"], got["labelled"]) == ("m2", ["m1"], N)
    assert got["frauds"] == int(y.sum()) and got["alert_budget"] == budget
    assert got["champion_ap"] == pytest.approx(average_precision_score(y, champ))
    assert got["challenger_ap"] == pytest.approx(average_precision_score(y, chall))
    assert got["champion_recall_at_budget"] == pytest.approx(recall_top(y, champ, budget))
    assert got["challenger_recall_at_budget"] == pytest.approx(recall_top(y, chall, budget))
    assert got["agreement"] == pytest.approx(float((dc == ds).mean()))
    for who, dec in (("champion", dc), ("challenger", ds)):
        m = got["money"][who]
        assert m["fraud_amount_caught"] == pytest.approx(
            amount[(y == 1) & (dec != "approve")].sum()
        )
        assert m["legit_amount_held"] == pytest.approx(amount[(y == 0) & (dec != "approve")].sum())
    for key, (low, high) in got["intervals_95"].items():
        assert low <= got[key] <= high, key
    assert got["intervals_95"]["ap_difference"][0] > 0  # m2 is clearly better here
    frame = labelled_pairs(url, "m2")
    assert compare(frame, 200)["intervals_95"] == got["intervals_95"]  # seeded: the same again
    assert compare(frame, 200, seed=1)["intervals_95"] != got["intervals_95"]


def test_numpy_average_precision_is_sklearns() -> None:
    rng = np.random.default_rng(3)
    for _ in range(20):
        y = (rng.random(200) < 0.2).astype(int)
        s = np.round(rng.random(200), 1)  # many ties
        assert average_precision(y, s) == pytest.approx(average_precision_score(y, s))


def test_promote_gate_shadow_refuses_below_n_and_promotes_above(
    shadow_db: tuple[str, dict[str, np.ndarray]], registry: Path
) -> None:
    url, _ = shadow_db
    base = ("promote", "challenger", "--gate", "shadow", "--database-url", url, "--registry",
            str(registry))  # fmt: skip
    r = run_cli(*base, "--min-shadow-labelled", str(N + 1))
    assert r.returncode == 1
    assert f"m2 has {N} labelled shadow payment(s); the shadow gate needs at least {N + 1}" in (
        r.stderr
    )
    reg = Registry(registry)
    assert reg.aliases()["production"] == "m1" and reg.aliases()["challenger"] == "m2"
    r = run_cli(*base, "--min-shadow-labelled", str(N), "--json")
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    assert out["promoted"] and out["metrics"]["labelled"] == N
    text = run_cli("models", "shadow-report", "--database-url", url, "--registry", str(registry),
                   "--version", "m2")  # fmt: skip
    assert text.returncode == 0 and "AP challenger" in text.stdout, text.stderr
    assert reg.aliases()["production"] == "m2" and reg.aliases()["challenger"] is None
    assert (
        reg.decisions()[-1]["action"] == "promote" and "shadow AP" in reg.decisions()[-1]["reason"]
    )


def test_no_fraud_yet_is_null_in_the_json() -> None:
    frame = pd.DataFrame({
        "amount": [1.0, 2.0], "champion": ["m1", "m1"], "score": [0.1, 0.6],
        "decision": ["approve", "review"], "shadow_score": [0.2, 0.3],
        "shadow_decision": ["approve", "approve"], "is_fraud": [0, 0],
    })  # fmt: skip
    got = strict(compare(frame, 50))
    assert got["champion_ap"] is None and got["intervals_95"]["champion_ap"] is None
    assert got["agreement"] == 0.5 and json.loads(json.dumps(got, allow_nan=False)) == got
