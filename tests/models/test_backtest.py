"""``fraudops backtest``: its numbers against a direct computation on the same dataset rows.

The expected numbers are computed here from the dataset's parquet file and the model file
(CatBoost itself), not through models.backtest, models.metrics or models.artifact.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from catboost import CatBoostClassifier

from models.backtest import BacktestError, load_rows, read_thresholds
from tests.cli import run_cli

pytestmark = pytest.mark.slow


def _backtest(trained: dict[str, Path], out: Path, *extra: str) -> Any:
    r = run_cli("backtest", "--model", "m1", "--dataset", "v1", "--json", "--out", str(out),
                "--datasets", str(trained["datasets"]), "--registry", str(trained["registry"]),
                *extra)  # fmt: skip
    assert r.returncode == 0, r.stderr
    return json.loads(r.stdout)


def _direct(trained: dict[str, Path], review: float, decline: float | None) -> pd.DataFrame:
    """Each dataset row with its UTC day, label, amount and the decision the policy makes."""
    rows = pd.concat(
        pd.read_parquet(p) for p in sorted((trained["datasets"] / "v1").glob("*.parquet"))
    )
    manifest = json.loads((trained["registry"] / "m1" / "manifest.json").read_text())
    model = CatBoostClassifier()
    model.load_model(str(trained["registry"] / "m1" / "model.cbm"))
    x = rows[manifest["features"]]
    score = model.predict_proba(
        x.assign(**{c: x[c].astype(str) for c in manifest["categorical_features"]})
    )[:, 1]
    flagged = score >= review
    declined = flagged & (score >= decline) if decline is not None else np.zeros(len(rows), bool)
    return pd.DataFrame(
        {
            "day": rows["timestamp"].dt.tz_convert("UTC").dt.strftime("%Y-%m-%d").to_numpy(),
            "fraud": rows["is_fraud"].to_numpy() == 1,
            "amount": rows["tx_amount"].to_numpy(),
            "review": flagged & ~declined,
            "decline": declined,
        }
    )


def _expected(d: pd.DataFrame, budget: float) -> dict[str, Any]:
    flagged = d["review"] | d["decline"]
    days = d["day"].nunique()
    return {
        "days": days,
        "payments": len(d),
        "reviews": int(d["review"].sum()),
        "declines": int(d["decline"].sum()),
        "frauds": int(d["fraud"].sum()),
        "frauds_caught": int((d["fraud"] & flagged).sum()),
        "fraud_amount": round(float(d.loc[d["fraud"], "amount"].sum()), 2),
        "fraud_amount_saved": round(float(d.loc[d["fraud"] & flagged, "amount"].sum()), 2),
        "legit_amount_held": round(float(d.loc[~d["fraud"] & flagged, "amount"].sum()), 2),
        "alert_budget_used": pytest.approx(flagged.sum() / (budget * days)),
    }


def test_backtest_totals_equal_a_direct_computation_and_the_page_is_written(
    trained: dict[str, Path], tmp_path: Path
) -> None:
    result = _backtest(trained, tmp_path / "page")
    t = result["thresholds"]
    assert t["source"] == "model manifest"
    direct = _direct(trained, t["review"], t["decline"])
    expected = _expected(direct, t["review_budget_per_day"])
    assert {k: result["totals"][k] for k in expected} == expected
    # the whole dataset: the days m1 was trained and validated on are flagged as seen
    assert {"train", "validation"} <= {w.split()[0] for w in result["seen_by_model"]}
    assert expected["reviews"] + expected["declines"] > 0 and expected["frauds_caught"] > 0
    per_day = pd.DataFrame(result["per_day"])
    assert list(per_day["day"]) == sorted(direct["day"].unique())
    assert list(per_day["payments"]) == list(direct.groupby("day").size())
    page = (tmp_path / "page" / "index.html").read_text()
    assert result["html"] == str(tmp_path / "page" / "index.html")
    for plot in ("decisions.png", "money.png", "alert_budget.png"):
        assert f'src="{plot}"' in page and (tmp_path / "page" / plot).stat().st_size > 1000
    assert f"<td>{expected['payments']}</td>" in page


def test_date_filters_and_a_thresholds_file(trained: dict[str, Path], tmp_path: Path) -> None:
    policy = tmp_path / "policy.json"
    policy.write_text(json.dumps({"review": 0.3, "decline": 0.8, "review_budget_per_day": 50}))
    direct = _direct(trained, 0.3, 0.8)
    days = sorted(direct["day"].unique())
    start, end = days[3], days[6]
    result = _backtest(trained, tmp_path / "page", "--from", start, "--to", end,
                       "--thresholds", str(policy))  # fmt: skip
    assert result["thresholds"] == {"review": 0.3, "decline": 0.8, "review_budget_per_day": 50,
                                    "source": "file"}  # fmt: skip
    assert [r["day"] for r in result["per_day"]] == days[3:7]
    assert [w.split()[0] for w in result["seen_by_model"]] == ["train"]  # early days only
    window = direct[(direct["day"] >= start) & (direct["day"] <= end)]
    expected = _expected(window, 50)
    assert {k: result["totals"][k] for k in expected} == expected


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("{not json", "not JSON"),
        ("[0.5]", "expected a JSON object"),
        ('{"decline": 0.9}', "review is required"),
        ('{"review": 1.5}', r"review must be a number in \[0.0, 1.0\]"),
        ('{"review": "0.5"}', "review must be a number"),
        ('{"review": 0.5, "decline": 0.2}', r"decline must be a number in \[0.5, 1.0\]"),
        ('{"review": 0.5, "review_budget_per_day": 0}', "review_budget_per_day must be"),
        ('{"review": 0.5, "reveiw": 0.6}', "unknown key.*reveiw"),
    ],
)
def test_a_bad_thresholds_file_is_a_clear_error(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "t.json"
    path.write_text(text)
    with pytest.raises(BacktestError, match=message):
        read_thresholds(path)


def test_bad_input_is_refused_by_the_command_naming_it(
    trained: dict[str, Path], tmp_path: Path
) -> None:
    bad = tmp_path / "t.json"
    bad.write_text('{"review": 0.5, "decline": 0.2}')
    where = ["--datasets", str(trained["datasets"]), "--registry", str(trained["registry"])]
    for extra, message in [
        (["--dataset", "v1", "--thresholds", str(bad)], "decline must be a number in [0.5, 1.0]"),
        (["--dataset", "v9"], "v9"),
    ]:
        r = run_cli("backtest", "--model", "m1", *where, *extra)
        assert r.returncode == 2 and message in r.stderr, r.stderr
        assert "Traceback" not in r.stderr
    for start, end, message in [
        ("2020-13-01", None, "--from '2020-13-01': expected a date YYYY-MM-DD"),
        ("2001-01-03", "2001-01-02", "--from 2001-01-03 is after --to 2001-01-02"),
        ("2001-01-01", "2001-01-02", "has no payment in the days asked (it spans 20"),
    ]:
        with pytest.raises(BacktestError, match=re.escape(message)):
            load_rows(trained["datasets"], "v1", start, end)
