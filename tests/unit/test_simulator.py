"""The simulator reproduces the Handbook generator's statistics, deterministically."""

from __future__ import annotations

import math
from dataclasses import replace
from datetime import date

import numpy as np
import pandas as pd
import pytest

from fraudops.simulator import SimulationConfig, simulate, to_handbook

CFG = SimulationConfig(customers=1000, terminals=2000, days=60, seed=3)


@pytest.fixture(scope="module")
def history() -> pd.DataFrame:
    return simulate(CFG)


def test_deterministic_for_a_seed(history: pd.DataFrame) -> None:
    pd.testing.assert_frame_equal(history, simulate(CFG))
    other = simulate(SimulationConfig(customers=1000, terminals=2000, days=60, seed=4))
    assert not history["amount"].head(1000).equals(other["amount"].head(1000))


def test_volume_and_fraud_rate_in_the_handbook_band(history: pd.DataFrame) -> None:
    # Handbook: about 2 tx/customer/day (U(0,4) mean), ~3 % dropped outside the day
    per_customer_day = len(history) / (CFG.customers * CFG.days)
    assert 1.85 < per_customer_day < 2.05
    # the Handbook's 0.8 % fraud on 5,000 customers scales with the daily compromises: on 1,000
    # customers / 2,000 terminals the same 2 terminals + 3 customers a day give a higher rate
    assert 0.02 < history["is_fraud"].mean() < 0.08


def test_scenarios(history: pd.DataFrame) -> None:
    s = history["fraud_scenario"]
    assert set(s.unique()) == {0, 1, 2, 3, 4}
    assert (history.loc[s == 1, "amount"] > 220).all()
    assert ((s > 0) == (history["is_fraud"] == 1)).all()
    # (2) compromised terminals: every transaction there for 28 days is fraud -> at most
    # 2 new terminals a day; count the distinct terminals of scenario-2 frauds
    assert history.loc[s == 2, "terminal_id"].nunique() <= 2 * CFG.days
    # (3) about a third of a compromised customer's transactions for 14 days, x5 amounts
    s3 = history[s == 3]
    assert s3["customer_id"].nunique() <= 3 * CFG.days
    mean_legit = history[s == 0].groupby("customer_id")["amount"].mean()
    ratio = s3.groupby("customer_id")["amount"].mean() / mean_legit.reindex(
        s3["customer_id"].unique()
    )
    assert 3.0 < ratio.median() < 7.0
    # (4) card testing: bursts of small foreign e-commerce payments
    s4 = history[s == 4]
    assert (s4["channel"] == "ecommerce").all() and (s4["country"] != "FR").all()
    assert (s4["amount"] < 3.0).mean() > 0.6
    # card testers probe with $0 verification authorisations (about 30 % of the probes)
    probes = s4[s4["amount"] < 3.0]
    assert 0.2 < (probes["amount"] == 0).mean() < 0.4
    assert (history.loc[history["amount"] == 0, "fraud_scenario"].isin([0, 4])).all()


def test_zero_amount_probes_keep_the_rest_of_the_data(history: pd.DataFrame) -> None:
    """The $0 probes come from their own random stream: the same seed gives the same payments
    (times, customers, terminals), only some card-testing amounts become 0."""
    plain = simulate(replace(CFG, extras=False))
    same = history[history["fraud_scenario"] != 4].reset_index(drop=True)
    cols = ["timestamp", "customer_id", "terminal_id", "amount", "is_fraud"]
    assert len(same) == len(plain)
    pd.testing.assert_frame_equal(same[cols], plain[cols], check_dtype=False)


def test_handbook_generator_facts(history: pd.DataFrame) -> None:
    legit = history[history["fraud_scenario"] == 0]
    secs = (legit["timestamp"] - legit["timestamp"].dt.floor("D")).dt.total_seconds()
    # N(43200, 20000) truncated to the day (a = 2.16 sigma each side)
    a = 43200 / 20000
    pdf, cdf = math.exp(-a * a / 2) / math.sqrt(2 * math.pi), 0.5 * (1 + math.erf(a / math.sqrt(2)))
    truncated_std = 20000 * math.sqrt(1 - 2 * a * pdf / (2 * cdf - 1))
    assert abs(secs.mean() - 43200) < 300 and abs(secs.std() - truncated_std) < 300
    assert (history["amount"] >= 0).all()
    assert np.allclose(history["amount"], history["amount"].round(2))
    assert history["timestamp"].is_monotonic_increasing
    assert history["transaction_id"].is_unique


def test_full_size_matches_the_handbook() -> None:
    """5,000 customers, 10,000 terminals, 183 days: ~1.75 M transactions, 0.6-1.1 % fraud."""
    df = simulate(SimulationConfig(extras=False))
    assert 1_650_000 < len(df) < 1_850_000
    assert 0.006 < df["is_fraud"].mean() < 0.011
    counts = df["fraud_scenario"].value_counts()
    assert counts[2] > counts[3] > counts[1] > 0 and 4 not in counts


def test_handbook_format(history: pd.DataFrame) -> None:
    hb = to_handbook(history, date(2018, 4, 1))
    assert list(hb.columns[:5]) == [
        "TRANSACTION_ID",
        "TX_DATETIME",
        "CUSTOMER_ID",
        "TERMINAL_ID",
        "TX_AMOUNT",
    ]
    assert (hb["TX_TIME_DAYS"] == hb["TX_TIME_SECONDS"] // 86400).all()
    assert hb["TX_DATETIME"].iloc[0] >= pd.Timestamp("2018-04-01")
