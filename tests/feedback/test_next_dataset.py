"""Dataset N+1: the parent's history plus the scoring log, labels by precedence as known at the
cut-off, lineage in the manifest, same inputs -> same version."""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from pathlib import Path

import pandas as pd
import pytest

from fraudops import datasets
from fraudops.simulator import SimulationConfig, simulate
from services.feedback import store
from services.feedback.db import make_engine, session_factory, upgrade
from tests.cli import run_cli

pytestmark = [pytest.mark.integration, pytest.mark.slow]


def scored_row(tx: pd.Series) -> dict[str, object]:
    return {
        "transaction_id": tx.transaction_id, "timestamp": tx.timestamp.to_pydatetime(),
        "customer_id": tx.customer_id, "terminal_id": tx.terminal_id, "amount": tx.amount,
        "currency": tx.currency, "mcc": tx.mcc, "country": tx.country, "channel": tx.channel,
        "score": 0.5, "decision": "review", "model_version": "m1", "degraded": False,
        "features": "[]", "scored_at": tx.timestamp.to_pydatetime() + timedelta(seconds=1),
    }  # fmt: skip


def build(*args: str) -> tuple[str, str]:
    r = run_cli("dataset", "build", *args)
    assert r.returncode == 0, r.stderr[-3000:]
    return r.stdout.strip().splitlines()[-1], r.stderr


def test_next_version_from_the_scoring_log_and_labels(tmp_path: Path) -> None:
    history = simulate(SimulationConfig(customers=60, terminals=120, days=20, seed=3))
    split = history["timestamp"].min() + pd.Timedelta(days=15)
    past, live = history[history.timestamp < split], history[history.timestamp >= split]
    past.to_parquet(tmp_path / "history.parquet", index=False)
    out, db = tmp_path / "ds", f"sqlite:///{tmp_path}/feedback.db"
    v1, _ = build("--history", str(tmp_path / "history.parquet"), "--out", str(out))
    assert v1 == "v1"

    engine = make_engine(db)
    upgrade(engine)
    sessions = session_factory(engine)
    with sessions.begin() as s:
        store.insert_scored(s, [scored_row(tx) for tx in live.itertuples()])
    frauds = live[live.is_fraud == 1].transaction_id.tolist()
    legit = live[live.is_fraud == 0].transaction_id.tolist()
    t0 = live.timestamp.max().to_pydatetime() + timedelta(hours=1)
    with sessions.begin() as s:
        for i, tx in enumerate(frauds):  # chargebacks for the frauds
            store.record_label(s, tx, "fraud", "chargeback", "cb", t0 + timedelta(minutes=i))
        # the card holder says "not me" but the analyst clears it: legit (analyst > in_app)
        store.record_label(s, legit[0], "fraud", "in_app", "customer", t0)
        store.record_label(s, legit[0], "legit", "analyst", "ana", t0 + timedelta(minutes=5))
        # in-app "fraud" alone counts
        store.record_label(s, legit[1], "fraud", "in_app", "customer", t0)
    cutoff = (t0 + timedelta(days=1)).isoformat()

    v2, _ = build("--feedback", "--database-url", db, "--out", str(out), "--label-cutoff", cutoff)
    assert v2 == "v2"
    m1, m2 = datasets.read_manifest(out, "v1"), datasets.read_manifest(out, "v2")
    assert m2["parent"] == "v1"
    assert m2["label_cutoff"] == int(datetime.fromisoformat(cutoff).timestamp())
    assert m2["rows"] == m1["rows"] + len(live)
    assert m2["feedback"]["scored_transactions"] == len(live)
    assert m2["feedback"]["new_label_events"] == len(frauds) + 3
    frame = datasets.load_dataset(out, "v2").set_index("transaction_id")
    assert frame.loc[frauds, "is_fraud"].eq(1).all()
    assert frame.loc[legit[0], "is_fraud"] == 0 and frame.loc[legit[1], "is_fraud"] == 1
    assert frame.loc[legit[2:], "is_fraud"].eq(0).all()
    assert frame.loc[past.transaction_id, "is_fraud"].sum() == past.is_fraud.sum()

    # the same inputs give the same version (no new directory)
    again, err = build("--feedback", "--database-url", db, "--out", str(out), "--label-cutoff",
                       cutoff)  # fmt: skip
    assert again == "v2" and "unchanged" in err

    # a label that arrives after the cut-off is not known to the version built at that cut-off
    late = t0 + timedelta(days=2)
    with sessions.begin() as s:
        store.record_label(s, legit[2], "fraud", "analyst", "ana", late)
    v3, _ = build("--feedback", "--database-url", db, "--out", str(out), "--label-cutoff",
                  (late + timedelta(seconds=1)).isoformat())  # fmt: skip
    m3 = datasets.read_manifest(out, v3)
    assert (v3, m3["parent"], m3["feedback"]["new_label_events"]) == ("v3", "v2", 1)
    assert datasets.load_dataset(out, v3).set_index("transaction_id").loc[legit[2], "is_fraud"] == 1
    # v3 is built from the original history and one (the newest) feedback export, not v2's too
    assert len(m3["inputs"]["history"]) == 2 and m3["rows"] == m2["rows"]
    assert json.loads((out / "v2" / "manifest.json").read_text()) == m2  # v2 untouched
    engine.dispose()
