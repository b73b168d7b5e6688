"""The retraining triggers on constructed data: each one firing and not firing, and why."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
import pandas as pd
import pytest
from pydantic import ValidationError

from models.reference import numeric_reference, reference_for
from models.triggers import (
    TriggerConfig,
    TriggerResult,
    drift,
    evaluate,
    new_labels,
    on_demand,
    performance,
    psi_by_feature,
    schedule,
    should_run,
)

CFG = TriggerConfig()
NOW = datetime(2024, 5, 20, 12, 0, tzinfo=UTC)
CHANNELS = ["pos", "ecom", "atm"]


def draw(
    rng: np.random.Generator, n: int, amount_scale: float = 1.0, mix: Any = None
) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "tx_amount": rng.lognormal(3.5, 0.8, n) * amount_scale,
            "customer_nb_tx_1day": rng.poisson(3, n),
            "channel": rng.choice(CHANNELS, n, p=mix or [0.7, 0.2, 0.1]),
            "score": rng.beta(1, 20, n),
        }
    )


@pytest.fixture(scope="module")
def reference() -> dict[str, dict[str, Any]]:
    train = draw(np.random.default_rng(0), 20_000)
    ref = reference_for(train, ["tx_amount", "customer_nb_tx_1day", "channel"], {"channel"})
    ref["__score__"] = numeric_reference(train["score"].to_numpy(), bins=20)
    return ref


def made(created: datetime) -> dict[str, Any]:
    return {"model_id": "m1", "created_at": created.isoformat(timespec="seconds")}


def labelled(tp: int, fp: int, fn: int, tn: int) -> pd.DataFrame:
    """``tp`` flagged frauds, ``fp`` flagged genuine, ``fn`` missed frauds, ``tn`` approved."""
    rows = (
        [("review", 1)] * (tp - tp // 2)
        + [("decline", 1)] * (tp // 2)
        + [("review", 0)] * fp
        + [("approve", 1)] * fn
        + [("approve", 0)] * tn
    )
    return pd.DataFrame(rows, columns=["decision", "is_fraud"])


def test_config_defaults_and_strictness() -> None:
    assert CFG.drift_psi == 0.25 and CFG.min_labelled == 50
    assert TriggerConfig.model_validate({"min_new_labels": 10}).min_new_labels == 10
    with pytest.raises(ValidationError):
        TriggerConfig.model_validate({"min_new_label": 10})
    with pytest.raises(ValidationError):
        TriggerConfig(min_precision=1.5)


def test_on_demand_always_fires() -> None:
    r = on_demand()
    assert (r.name, r.fired) == ("on_demand", True)
    assert r.as_dict()["detail"] == "retrain requested on demand"


def test_schedule_old_model_fires() -> None:
    r = schedule(made(NOW - timedelta(days=9, hours=12)), NOW, CFG)
    assert r.fired and r.name == "schedule"
    assert r.value == pytest.approx(9.5) and r.threshold == 7.0
    assert "9.50 days old > 7" in r.detail


def test_schedule_fresh_model_does_not_fire_and_offsets_count() -> None:
    # 2024-05-18T12:00+02:00 is 10:00 UTC: 2 days and 2 hours before NOW
    r = schedule({"created_at": "2024-05-18T12:00:00+02:00"}, NOW, CFG)
    assert not r.fired
    assert r.value == pytest.approx(2 + 2 / 24)
    assert "<= 7" in r.detail


def test_schedule_exactly_at_the_limit_does_not_fire() -> None:
    assert not schedule(made(NOW - timedelta(days=7)), NOW, CFG).fired


def test_schedule_without_production_fires() -> None:
    r = schedule(None, NOW, CFG)
    assert r.fired and r.value is None and "no production model" in r.detail


def test_schedule_rejects_naive_times() -> None:
    with pytest.raises(ValueError, match="offset"):
        schedule({"created_at": "2024-05-18T12:00:00"}, NOW, CFG)
    with pytest.raises(ValueError, match="timezone"):
        schedule(made(NOW), NOW.replace(tzinfo=None), CFG)


def test_new_labels_below_and_at_threshold() -> None:
    below, at = new_labels(199, CFG), new_labels(200, CFG)
    assert not below.fired and below.value == 199 and below.threshold == 200
    assert at.fired and at.value == 200
    assert "200 transactions with a new or changed label" in at.detail and ">= 200" in at.detail


def test_drift_same_distribution_does_not_fire(reference: dict[str, dict[str, Any]]) -> None:
    recent = draw(np.random.default_rng(1), 3_000)
    r = drift(reference, recent, CFG)
    assert not r.fired and r.name == "drift"
    assert set(r.extra["psi"]) == {"tx_amount", "customer_nb_tx_1day", "channel", "score"}
    assert r.value is not None and r.value < 0.05  # sampling noise only
    assert r.value == pytest.approx(max(r.extra["psi"].values()))
    assert "<= 0.25" in r.detail


def test_drift_on_amounts_fires_and_names_the_feature(reference: dict[str, dict[str, Any]]) -> None:
    recent = draw(np.random.default_rng(2), 3_000, amount_scale=3.0)
    r = drift(reference, recent, CFG)
    assert r.fired and r.value is not None and r.value > 1.0
    assert "feature 'tx_amount'" in r.detail and "> 0.25" in r.detail
    psis = r.extra["psi"]
    assert max(psis, key=psis.get) == "tx_amount"
    assert psis["channel"] < 0.05 and psis["score"] < 0.05


def test_drift_on_categorical_mix_fires(reference: dict[str, dict[str, Any]]) -> None:
    recent = draw(np.random.default_rng(3), 3_000, mix=[0.2, 0.2, 0.6])
    r = drift(reference, recent, CFG)
    assert r.fired and "feature 'channel'" in r.detail
    # PSI of 0.7/0.2/0.1 -> 0.2/0.2/0.6 is 0.5*ln(3.5) + 0.5*ln(6) = 1.52, up to sampling noise
    assert r.value == pytest.approx(0.5 * math.log(3.5) + 0.5 * math.log(6), abs=0.1)


def test_drift_names_every_drifted_column(reference: dict[str, dict[str, Any]]) -> None:
    recent = draw(np.random.default_rng(8), 3_000, amount_scale=3.0, mix=[0.2, 0.2, 0.6])
    r = drift(reference, recent, CFG)
    assert r.fired and "on feature 'tx_amount'" in r.detail
    assert f"also above: 'channel' {r.extra['psi']['channel']:.3f}" in r.detail


def test_psi_by_feature_exact_on_categorical_counts() -> None:
    train = pd.DataFrame({"channel": ["pos"] * 700 + ["ecom"] * 200 + ["atm"] * 100})
    ref = reference_for(train, ["channel"], {"channel"})
    recent = pd.DataFrame(
        {"channel": ["pos"] * 200 + ["ecom"] * 200 + ["atm"] * 600, "unrelated": 1}
    )
    psis = psi_by_feature(ref, recent)
    assert list(psis) == ["channel"]  # columns without a reference are ignored
    assert psis["channel"] == pytest.approx(0.5 * math.log(3.5) + 0.5 * math.log(6), rel=1e-3)


def test_drift_on_score_names_the_score(reference: dict[str, dict[str, Any]]) -> None:
    recent = draw(np.random.default_rng(4), 3_000)[["tx_amount", "score"]]
    recent["score"] = np.random.default_rng(5).beta(5, 5, 3_000)
    r = drift(reference, recent, CFG)
    assert r.fired and "the model score" in r.detail
    assert set(r.extra["psi"]) == {"tx_amount", "score"}


def test_drift_with_too_few_rows_does_not_fire(reference: dict[str, dict[str, Any]]) -> None:
    recent = draw(np.random.default_rng(6), 200, amount_scale=3.0)
    r = drift(reference, recent, CFG)
    assert not r.fired
    assert "only 200 recent rows < 500" in r.detail and "not enough data" in r.detail
    assert r.value is not None and r.value > 0.25  # measured for the record, not acted on


def test_drift_without_common_columns_does_not_fire(reference: dict[str, dict[str, Any]]) -> None:
    r = drift(reference, pd.DataFrame({"other": np.arange(1_000)}), CFG)
    assert not r.fired and r.value is None and "no column" in r.detail


def test_performance_good_does_not_fire() -> None:
    # 15 of 25 flagged are frauds (precision 0.6); 15 of 20 frauds flagged (recall 0.75)
    r = performance(labelled(tp=15, fp=10, fn=5, tn=70), CFG)
    assert not r.fired
    assert r.extra["precision"] == pytest.approx(0.6) and r.extra["recall"] == pytest.approx(0.75)
    assert (r.value, r.threshold) == (pytest.approx(0.6), 0.5)  # the closer one to failing


def test_performance_bad_precision_fires() -> None:
    r = performance(labelled(tp=15, fp=35, fn=5, tn=45), CFG)
    assert r.fired and r.value == pytest.approx(0.3) and r.threshold == 0.5
    assert "precision 0.300 < 0.5" in r.detail and "recall 0.750 >= 0.3" in r.detail


def test_performance_bad_recall_fires() -> None:
    r = performance(labelled(tp=5, fp=0, fn=15, tn=80), CFG)
    assert r.fired and r.value == pytest.approx(0.25) and r.threshold == 0.3
    assert "recall 0.250 < 0.3" in r.detail and r.extra["precision"] == 1.0


def test_performance_nothing_flagged_judges_recall_only() -> None:
    r = performance(labelled(tp=0, fp=0, fn=10, tn=90), CFG)
    assert r.fired and r.value == 0.0 and "precision undefined" in r.detail


def test_performance_no_frauds_judges_precision_only() -> None:
    ok = performance(labelled(tp=0, fp=0, fn=0, tn=100), CFG)
    assert not ok.fired and ok.value is None and "nothing to judge" in ok.detail
    bad = performance(labelled(tp=0, fp=5, fn=0, tn=95), CFG)
    assert bad.fired and bad.value == 0.0 and "recall undefined" in bad.detail


def test_performance_too_few_labelled_does_not_fire() -> None:
    r = performance(labelled(tp=1, fp=20, fn=10, tn=10), CFG)  # 41 rows, precision ~0.05
    assert not r.fired and r.value is None
    assert "only 41 labelled decisions < 50" in r.detail
    assert r.extra["precision"] == pytest.approx(1 / 21)


def test_performance_rejects_unknown_decisions() -> None:
    with pytest.raises(ValueError, match="unknown decisions"):
        performance(pd.DataFrame({"decision": ["block"], "is_fraud": [1]}), CFG)


def inputs(ref: dict[str, dict[str, Any]], **over: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "production": made(NOW - timedelta(days=2)),
        "now": NOW,
        "new_label_count": 50,
        "reference": ref,
        "recent": draw(np.random.default_rng(7), 1_000),
        "decisions": labelled(tp=15, fp=10, fn=5, tn=70),
        "cfg": CFG,
    }
    return {**base, **over}


def names(results: list[TriggerResult]) -> list[str]:
    return [r.name for r in results]


def test_auto_quiet_does_not_run(reference: dict[str, dict[str, Any]]) -> None:
    results = evaluate("auto", **inputs(reference))
    assert names(results) == ["schedule", "new_labels", "drift", "performance"]
    assert not any(r.fired for r in results) and not should_run(results)
    assert all(isinstance(r.as_dict()["detail"], str) for r in results)


def test_auto_runs_when_one_trigger_fires(reference: dict[str, dict[str, Any]]) -> None:
    results = evaluate("auto", **inputs(reference, new_label_count=500))
    assert [r.name for r in results if r.fired] == ["new_labels"]
    assert should_run(results)


def test_on_demand_runs_and_records_the_others(reference: dict[str, dict[str, Any]]) -> None:
    results = evaluate("on-demand", **inputs(reference))
    assert names(results) == ["on_demand", "schedule", "new_labels", "drift", "performance"]
    assert [r.name for r in results if r.fired] == ["on_demand"]
    assert should_run(results)


def test_auto_without_production_or_data(reference: dict[str, dict[str, Any]]) -> None:
    results = evaluate("auto", **inputs(reference, production=None, reference=None, decisions=None))
    by = {r.name: r for r in results}
    assert by["schedule"].fired and "no production model" in by["schedule"].detail
    assert not by["drift"].fired and "no reference" in by["drift"].detail
    assert not by["performance"].fired and "no labelled decisions" in by["performance"].detail
    assert should_run(results)


def test_evaluate_rejects_unknown_request(reference: dict[str, dict[str, Any]]) -> None:
    with pytest.raises(ValueError, match="requested"):
        evaluate("sometimes", **inputs(reference))
