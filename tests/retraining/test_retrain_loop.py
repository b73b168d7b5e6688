"""A whole retraining loop through the real commands: the automatic triggers holding back and then
firing on new labels, a better model promoted, a worse one refused, every run recorded."""

from __future__ import annotations

import json
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from fastapi.testclient import TestClient

from fraudops import datasets
from fraudops.features import FEATURE_NAMES
from fraudops.features.offline import labelled_feature_frame
from fraudops.profile_store.commands import StoreConfig
from fraudops.simulator import SimulationConfig, simulate
from models import artifact, data_gate
from models.registry import Registry
from services.feedback import store
from services.feedback.db import make_engine, session_factory, upgrade
from services.scoring.app import create_app
from tests.alerts.receivers import WebhookReceiver
from tests.cli import run_cli
from tests.conftest import TEST_REDIS_URL
from tests.models.conftest import FAST

pytestmark = [pytest.mark.integration, pytest.mark.slow]
WEAK = {**FAST, "iterations": 2, "depth": 1, "learning_rate": 0.01, "early_stopping_rounds": 1,
        "imbalance_candidates": ["none"]}  # fmt: skip


def write(path: Path, data: dict[str, Any]) -> Path:
    path.write_text(json.dumps(data))
    return path


def cli(*args: str, ok: tuple[int, ...] = (0,)) -> str:
    r = run_cli(*args, timeout=900)
    assert r.returncode in ok, r.stderr[-4000:]
    return r.stdout.strip()


def test_triggers_then_promote_a_better_model_and_refuse_a_worse_one(
    tmp_path: Path, store_config: StoreConfig, monkeypatch: pytest.MonkeyPatch
) -> None:
    # payments of the last 45 days: the labels arriving now are days, not years, late
    history = simulate(
        SimulationConfig(
            customers=150,
            terminals=300,
            days=45,
            seed=11,
            start_date=date.today() - timedelta(days=46),
        )
    )
    # this small population is ~20 % fraud: the gate's band is widened for it
    relaxed = tmp_path / "relaxed.toml"
    relaxed.write_text(
        data_gate.EXPECTATIONS.read_text().replace(
            "fraud_rate = [0.0005, 0.15]", "fraud_rate = [0.001, 0.3]"
        )
    )
    split = history["timestamp"].min() + pd.Timedelta(days=35)
    past, live = history[history.timestamp < split], history[history.timestamp >= split]
    past.to_parquet(tmp_path / "history.parquet", index=False)
    ds, reg, db = tmp_path / "ds", tmp_path / "models", f"sqlite:///{tmp_path}/fb.db"
    where = ["--datasets", str(ds), "--registry", str(reg)]
    assert cli("dataset", "build", "--history", str(tmp_path / "history.parquet"),
               "--out", str(ds)) == "v1"  # fmt: skip
    # production starts as a weak model
    assert cli("train", "--dataset", "v1", "--config", str(write(tmp_path / "weak.json", WEAK)),
               *where) == "m1"  # fmt: skip
    cli("promote", "m1", *where)

    # production scored the live days: the scoring log and the chargebacks of its frauds
    features = labelled_feature_frame(history).set_index("transaction_id").loc[live.transaction_id]
    m1 = artifact.load(Registry(reg), "m1")
    scores = m1.score(features.reset_index())
    review = Registry(reg).manifest("m1")["thresholds"]["review"]
    now = datetime.now(UTC)
    engine = make_engine(db)
    upgrade(engine)
    sessions = session_factory(engine)
    rows = []
    for i, (tx, score) in enumerate(zip(live.itertuples(), scores, strict=True)):
        rows.append({
            "transaction_id": tx.transaction_id, "timestamp": tx.timestamp.to_pydatetime(),
            "customer_id": tx.customer_id, "terminal_id": tx.terminal_id, "amount": tx.amount,
            "currency": tx.currency, "mcc": tx.mcc, "country": tx.country, "channel": tx.channel,
            "score": float(score), "decision": "review" if score >= review else "approve",
            "model_version": "m1", "degraded": False,
            "features": json.dumps(features.loc[tx.transaction_id, FEATURE_NAMES].tolist(),
                                   default=str),
            "scored_at": now - timedelta(hours=6) + timedelta(seconds=i),
        })  # fmt: skip
    frauds = live.loc[live.is_fraud == 1, "transaction_id"].tolist()
    with sessions.begin() as s:
        store.insert_scored(s, rows)
        for i, tx in enumerate(frauds):
            store.record_label(s, tx, "fraud", "chargeback", "cb",
                               now - timedelta(hours=2) + timedelta(seconds=i))  # fmt: skip
    engine.dispose()
    assert len(frauds) >= 20
    common = ["--database-url", db, *where]

    # auto: fresh model, fewer new labels than asked for, no drift above 10 -> nothing runs
    # (the reference is m1's train window, v1's first 21 days now that tune and gate keep the
    # last 14: the simulation's 30-day counts are still filling up then, PSI about 5 on them)
    quiet = {"triggers": {"min_new_labels": len(frauds) + 1, "drift_psi": 10.0,
                          "min_precision": 0.0, "min_recall": 0.0},
             "train": FAST, "expectations": str(relaxed)}  # fmt: skip
    # (the scheduler's cron form: one automatic check)
    cli("scheduler", "--once", "--config", str(write(tmp_path / "quiet.json", quiet)), *common)
    assert "skipped" in cli("retrain", "--list", "--registry", str(reg))
    assert sorted(datasets.version_dirs(ds))[-1][1].name == "v1"  # nothing built

    # auto with the new-labels trigger at the label count -> dataset v2, a better model promoted,
    # and a running scoring service switches to it by itself
    for k, v in {"FRAUDOPS_MODEL_DIR": str(reg), "REDIS_URL": TEST_REDIS_URL,
                 "FRAUDOPS_KEY_PREFIX": store_config.prefix,
                 "FRAUDOPS_SCORING_MODEL_POLL_S": "0.2"}.items():  # fmt: skip
        monkeypatch.setenv(k, v)
    with TestClient(create_app()) as scoring:
        assert scoring.get("/readyz").json()["model_version"] == "m1"
        fire = {**quiet, "triggers": {**quiet["triggers"], "min_new_labels": len(frauds)}}
        out = cli("retrain", "--trigger", "auto", "--json", "--config",
                  str(write(tmp_path / "fire.json", fire)), *common)  # fmt: skip
        deadline = time.monotonic() + 10
        while scoring.get("/readyz").json()["model_version"] != "m2":
            assert time.monotonic() < deadline, "the scoring service kept m1"
            time.sleep(0.1)
    run = json.loads(out)
    fired = {t["name"]: t["fired"] for t in run["triggers"]}
    assert fired == {"schedule": False, "new_labels": True, "drift": False, "performance": False}
    assert run["dataset"]["version"] == "v2" and run["dataset"]["parent"] == "v1"
    assert run["dataset"]["feedback"]["scored_transactions"] == len(live)
    assert (run["outcome"], run["candidate"]["version"], run["production_after"]) == (
        "promoted", "m2", "m2"
    )  # fmt: skip
    gate = run["gate"]["metrics"]
    assert gate["candidate"]["average_precision"] > gate["production"]["average_precision"]
    # train, tune, gate: three disjoint windows of v2, the gate judged on the last, unseen one
    windows = Registry(reg).manifest("m2")["windows"]
    assert windows == run["candidate"]["windows"] and windows["dataset"] == "v2"
    assert windows["train"]["last_day"] < windows["tune"]["first_day"]
    assert windows["tune"]["last_day"] < windows["gate"]["first_day"]
    holdout = gate["holdout"]
    assert (holdout["dataset"], holdout["first_day"], holdout["last_day"]) == (
        "v2", windows["gate"]["first_day"], windows["gate"]["last_day"]
    )  # fmt: skip
    assert holdout["candidate_windows"] == "unseen"

    # on demand with a training config that makes a worse model -> refused, production stays
    worse = {**quiet, "train": WEAK}
    out = cli("retrain", "--trigger", "on-demand", "--json", "--config",
              str(write(tmp_path / "worse.json", worse)), *common, ok=(1,))  # fmt: skip
    run = json.loads(out)
    assert (run["outcome"], run["candidate"]["version"], run["production_after"]) == (
        "refused", "m3", "m2"
    )  # fmt: skip
    assert Registry(reg).aliases()["production"] == "m2"

    # a new dataset version that fails the data gate stops the run and tells the fraud team
    strict = tmp_path / "strict.toml"
    strict.write_text(
        data_gate.EXPECTATIONS.read_text().replace(
            "fraud_rate = [0.0005, 0.15]", "fraud_rate = [0.5, 0.9]"
        )
    )
    hook = WebhookReceiver()
    try:
        r = run_cli(
            "retrain",
            "--trigger",
            "on-demand",
            "--json",
            "--config",
            str(write(tmp_path / "gated.json", {**quiet, "expectations": str(strict)})),
            *common,
            env={"FRAUDOPS_ALERTS_WEBHOOK_URL": hook.url},
            timeout=900,
        )
    finally:
        hook.close()
    assert r.returncode == 1, r.stderr[-3000:]
    run = json.loads(r.stdout)
    assert run["outcome"] == "blocked" and "candidate" not in run
    assert [c["name"] for c in run["validation"]["failed"]] == ["fraud_rate"]
    assert hook.delivered == {f"retrain:{run['run']}": 1}
    assert "failed validation" in hook.bodies[0]["text"]
    assert Registry(reg).aliases()["production"] == "m2"

    listed = cli("retrain", "--list", "--registry", str(reg)).splitlines()
    assert [line.split()[3] for line in listed] == ["skipped", "promoted", "refused", "blocked"]


def test_runs_are_serialised(tmp_path: Path) -> None:
    from retraining.config import RetrainConfig
    from retraining.run import Paths, RunInProgress, _exclusive, retrain

    paths = Paths(tmp_path / "ds", tmp_path / "models", f"sqlite:///{tmp_path}/fb.db")
    with _exclusive(paths.registry), pytest.raises(RunInProgress):
        retrain("on-demand", paths, RetrainConfig(), datetime.now(UTC), None)  # type: ignore[arg-type]
