"""``fraudops rules ...`` as a user runs it (real subprocesses) on the model tests' small real
dataset v1 and model m1: the registry commands, and the backtest's numbers against a direct
computation on the dataset's parquet rows."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from fraudops.rules.registry import RuleRegistry
from models import artifact
from models.registry import Registry
from tests.cli import run_cli

pytestmark = pytest.mark.slow

RULES = """# rules under test
rule big: review if amount > 150
rule bad_terminals: decline if terminal_id in @bad
rule risky: review if score > 0.3 and customer_nb_tx_1day >= 2
rule vip: allow if customer_id in @vip and not country == "XX"
"""


def _ok(*args: str, env: dict[str, str] | None = None) -> str:
    r = run_cli("rules", *args, env=env)
    assert r.returncode == 0, r.stderr
    return r.stdout


def test_check_publish_activate_list_diff_rollback(tmp_path: Path) -> None:
    env = {"FRAUDOPS_RULES_DIR": str(tmp_path / "rules"), "FRAUDOPS_ACTOR": "ana"}
    good, bad = tmp_path / "good.rules", tmp_path / "bad.rules"
    good.write_text(RULES)
    bad.write_text("review if amount > 1\nreview if amout > 2\n")
    assert _ok("check", str(good)) == "ok: 4 rules (big, bad_terminals, risky, vip)\n"
    r = run_cli("rules", "check", str(bad))
    assert r.returncode == 1
    assert r.stderr.strip() == f"{bad}:2:11: unknown name 'amout' (not a payment field, a " \
        "feature of the contract or score); did you mean 'amount'?"  # fmt: skip
    r = run_cli("rules", "publish", str(bad), "--reason", "typo", env=env)
    assert r.returncode == 1 and ":2:11:" in r.stderr
    assert _ok("publish", str(good), "--reason", "first", env=env) == "r1\n"
    good.write_text(RULES.replace("> 150", "> 200"))
    assert _ok("publish", str(good), "--reason", "fewer holds", "--by", "bo", env=env) == "r2\n"
    assert _ok("activate", "r1", "--reason", "go live", env=env) == "active: r1\n"
    assert _ok("activate", "r2", "--reason", "tuned", env=env) == "active: r2\n"
    listed = json.loads(_ok("list", "--json", env=env))
    assert [(x["version"], x["active"], x["author"]) for x in listed] == [
        ("r1", False, "ana"),
        ("r2", True, "bo"),
    ]
    diff = _ok("diff", "r1", "active", env=env)
    assert "-rule big: review if amount > 150\n+rule big: review if amount > 200\n" in diff
    assert _ok("rollback", "--reason", "too strict", env=env) == "active: r1 (was r2)\n"
    history = json.loads(_ok("history", "--json", env=env))
    assert [(e["action"], e["version"], e["by"]) for e in history][-1] == ("rollback", "r1", "ana")
    r = run_cli("rules", "activate", "r9", "--reason", "x", env=env)
    assert r.returncode == 2 and "rule set 'r9' not found" in r.stderr
    r = run_cli("rules", "activate", "r1", env=env)
    assert r.returncode == 2 and "--reason" in r.stderr


def _direct(trained: dict[str, Path], lists: dict[str, list[str]]) -> dict[str, np.ndarray]:
    """Each rule's hits computed here with pandas from the dataset's parquet rows."""
    rows = pd.concat(
        pd.read_parquet(p) for p in sorted((trained["datasets"] / "v1").glob("*.parquet"))
    )
    rows = rows.reset_index(drop=True)
    loaded = artifact.load(Registry(trained["registry"]), "m1")
    score = loaded.score(rows)
    return {
        "rows": rows,  # type: ignore[dict-item]
        "score": score,
        "big": rows["tx_amount"].to_numpy() > 150,
        "bad_terminals": rows["terminal_id"].isin(lists["bad"]).to_numpy(),
        "risky": (score > 0.3) & (rows["customer_nb_tx_1day"].to_numpy() >= 2),
        "vip": rows["customer_id"].isin(lists["vip"]).to_numpy(),
    }


def test_backtest_numbers_equal_a_direct_computation(
    trained: dict[str, Path], tmp_path: Path
) -> None:
    frame = pd.read_parquet(next((trained["datasets"] / "v1").glob("*.parquet")))
    fraud_terminals = frame.loc[frame["is_fraud"] == 1, "terminal_id"].value_counts()
    lists = {
        "bad": list(fraud_terminals.index[:3]),
        "vip": list(frame["customer_id"].unique()[:20]),
    }
    (tmp_path / "lists.json").write_text(json.dumps(lists))
    (tmp_path / "set.rules").write_text(RULES)
    where = ["--datasets", str(trained["datasets"]), "--registry", str(trained["registry"])]
    out = _ok("backtest", str(tmp_path / "set.rules"), "--dataset", "v1", "--model", "m1",
              "--lists", str(tmp_path / "lists.json"), "--json", *where)  # fmt: skip
    result: dict[str, Any] = json.loads(out)
    d = _direct(trained, lists)
    rows: pd.DataFrame = d["rows"]  # type: ignore[assignment]
    fraud = rows["is_fraud"].to_numpy() == 1
    amount = rows["tx_amount"].to_numpy()
    days = rows["timestamp"].dt.strftime("%Y-%m-%d").nunique()
    assert result["payments"] == len(rows) and result["days"] == days
    assert result["lists"] == {"given": ["bad", "vip"], "missing": []}
    assert result["absent_fields"] == ["currency"]
    for rule in result["per_rule"]:
        hits = d[rule["rule"]]
        assert rule["hits"] == hits.sum() > 0, rule
        assert rule["frauds"] == (hits & fraud).sum()
        assert rule["fraud_amount"] == pytest.approx(amount[hits & fraud].sum(), abs=0.01)
        assert rule["legit"] == (hits & ~fraud).sum()
        assert rule["precision"] == pytest.approx((hits & fraud).sum() / hits.sum(), abs=1e-4)
        assert rule["hits_per_day"] == pytest.approx(hits.sum() / days, abs=0.01)
        by_day = rows.loc[hits, "timestamp"].dt.strftime("%Y-%m-%d").value_counts()
        listed = dict(zip([d["day"] for d in result["per_day"]], rule["hits_by_day"], strict=True))
        assert {d: n for d, n in listed.items() if n} == by_day.to_dict()
    th = json.loads((trained["registry"] / "m1" / "manifest.json").read_text())["thresholds"]
    model = np.where(d["score"] >= th["review"], 1, 0)
    if th.get("decline") is not None:
        model = np.where(d["score"] >= th["decline"], 2, model)
    final = np.maximum(
        model, np.where(d["bad_terminals"], 2, np.where(d["big"] | d["risky"], 1, 0))
    )
    final[d["vip"]] = 0
    s = result["set"]
    assert s["decisions"]["reviews"] == (final == 1).sum()
    assert s["decisions"]["declines"] == (final == 2).sum()
    assert s["decisions"]["frauds_caught"] == ((final > 0) & fraud).sum()
    assert s["model_alone"]["frauds_caught"] == ((model > 0) & fraud).sum()
    assert s["frauds_added"] == ((final > 0) & (model == 0) & fraud).sum()
    assert s["frauds_released"] == ((final == 0) & (model > 0) & fraud).sum()
    assert sum(day["payments"] for day in result["per_day"]) == len(rows)
    assert result["timing_s"]["rules"] < 5
    RuleRegistry(tmp_path / "rules").publish(RULES, "ana", "for the backtest by version")
    text = _ok("backtest", "r1", "--rules-dir", str(tmp_path / "rules"), "--dataset", "v1",
               "--model", "m1", *where)  # fmt: skip
    assert f"rules backtest of r1 on v1 with model m1: {len(rows):,} payments" in text
    assert "(set: any rule)" in text and "note: no values given for @bad, @vip" in text


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--dataset", "v9", "--model", "m1"], "dataset version 'v9' not found"),
        pytest.param(
            ["--dataset", "v1"], "the rules read score: give a model", marks=pytest.mark.extended
        ),
        pytest.param(
            ["--dataset", "v1", "--model", "m7"],
            "model version 'm7' not found",
            marks=pytest.mark.extended,
        ),
        pytest.param(
            ["--dataset", "v1", "--model", "m1", "--lists", "LISTS"],
            "'bad' must be a list of strings",
            marks=pytest.mark.extended,
        ),
    ],
)
def test_backtest_bad_input_exits_2_naming_it(
    trained: dict[str, Path], tmp_path: Path, extra: list[str], message: str
) -> None:
    (tmp_path / "set.rules").write_text(RULES)
    (tmp_path / "lists.json").write_text(json.dumps({"bad": [1, 2]}))
    extra = [str(tmp_path / "lists.json") if e == "LISTS" else e for e in extra]
    where = ["--datasets", str(trained["datasets"]), "--registry", str(trained["registry"])]
    r = run_cli("rules", "backtest", str(tmp_path / "set.rules"), *extra, *where)
    assert r.returncode == 2, r.stdout
    assert message in r.stderr


def test_bench_prints_microseconds_per_payment() -> None:
    result = json.loads(_ok("bench", "--payments", "2000", "--json"))
    assert result["rules"] == 50 and result["rules_us_per_payment"] > 0
