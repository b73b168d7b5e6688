"""Every feature of the contract against an independent pandas computation on simulated data."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from fraudops.features import CATEGORICAL_FEATURES, FEATURE_NAMES
from fraudops.features.offline import fixed_delay_labels, point_in_time_features
from fraudops.readers import epoch_seconds
from tests.reference_features import reference_features


def compare(ours: pd.DataFrame, ref: pd.DataFrame) -> None:
    ours = ours.set_index("transaction_id")
    ref = ref.set_index("transaction_id").loc[ours.index]
    for name in FEATURE_NAMES:
        if name in CATEGORICAL_FEATURES:
            assert list(ours[name]) == list(ref[name]), name
            continue
        a = ours[name].to_numpy(dtype=float)
        b = ref[name].to_numpy(dtype=float)
        bad = ~np.isclose(a, b, rtol=1e-9, atol=1e-9)
        assert not bad.any(), (
            f"{name}: {bad.sum()} rows differ, e.g. tx {ours.index[bad][:3].tolist()}: "
            f"ours {a[bad][:3]} reference {b[bad][:3]}"
        )


@pytest.fixture(scope="module")
def labelled(small_history: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    labels = fixed_delay_labels(small_history, delay_days=7)
    ref_labels = pd.DataFrame(
        {
            "transaction_id": [e.transaction_id for e in labels],
            "arrival": [e.arrival_ts for e in labels],
            "is_fraud": [1] * len(labels),
        }
    )
    ours = point_in_time_features(small_history, labels)
    return ours, reference_features(small_history, ref_labels)


def test_every_feature_matches_the_reference(labelled: tuple[pd.DataFrame, pd.DataFrame]) -> None:
    ours, ref = labelled
    compare(ours, ref)


def test_simulated_data_exercises_the_features(
    small_history: pd.DataFrame, labelled: tuple[pd.DataFrame, pd.DataFrame]
) -> None:
    """Guard against a comparison that passes because everything is zero."""
    ours, _ = labelled
    assert ours["terminal_risk_7day"].gt(0).sum() > 50
    assert ours["customer_count_10min"].max() >= 5  # card-testing bursts
    assert ours["customer_frauds_known_30day"].gt(0).any()
    assert ours["customer_new_terminal"].between(0.01, 0.99, inclusive="neither").mean() == 0
    assert 0.0 < ours["customer_new_terminal"].mean() < 1.0
    assert set(ours["channel"]) >= {"card_present", "ecommerce"}
    assert len(ours) == len(small_history)
    zero = ours["tx_amount"] == 0  # $0 probes of the card-testing scenario
    assert zero.sum() > 100 and ours.loc[zero, "customer_amount_ratio_7day"].eq(0).any()


def test_real_label_arrival_times_differ_from_fixed_delay(small_history: pd.DataFrame) -> None:
    """Labels arriving early (in-app answers) make terminal risk visible sooner, point in time."""
    frauds = small_history[small_history["is_fraud"] == 1]
    early = pd.DataFrame(
        {
            "transaction_id": frauds["transaction_id"].to_numpy(),
            "arrival": epoch_seconds(frauds["timestamp"]) + 3600,
            "is_fraud": 1,
        }
    )
    from fraudops.features.offline import LabelEvent

    events = [
        LabelEvent(t, c, m, int(a), True)
        for t, c, m, a in zip(
            frauds["transaction_id"],
            frauds["customer_id"],
            frauds["terminal_id"],
            early["arrival"],
            strict=True,
        )
    ]
    ours = point_in_time_features(small_history, events)
    compare(ours, reference_features(small_history, early))
    delayed = point_in_time_features(small_history, fixed_delay_labels(small_history))
    assert ours["terminal_risk_1day"].sum() != delayed["terminal_risk_1day"].sum()
