"""Edge cases the simulator rarely produces: empty history, same-second payments, window edges,
labels arriving at the very second of a payment. Hypothesis drives the offline fold against the
independent pandas reference."""

from __future__ import annotations

import numpy as np
import pandas as pd
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from fraudops.features import FEATURE_NAMES, feature_vector
from fraudops.features.offline import LabelEvent, point_in_time_features
from fraudops.profile_store.state import EntityState
from fraudops.readers import validate_history
from fraudops.schema import Txn
from tests.reference_features import reference_features
from tests.unit.test_features_reference import compare

DAY = 86400
BASE = 1_530_403_200  # 2018-07-01T00:00:00Z, a Sunday
EDGES = [0, 1, 59, 60, 61, 599, 600, 3599, 3600, DAY - 1, DAY, DAY + 1, 7 * DAY - 1, 7 * DAY]
LABEL_DELAYS = [0, 1, 59, 3600, DAY - 1, DAY, 7 * DAY - 1, 7 * DAY, 7 * DAY + 1, 20 * DAY]

offsets = st.one_of(
    st.sampled_from([a + b for a in EDGES for b in (0, 7 * DAY, 30 * DAY)]),
    st.integers(0, 45 * DAY),
)
tx_strategy = st.tuples(
    offsets,
    st.sampled_from(["alice", "bob"]),
    st.sampled_from(["T1", "T2", "T3"]),
    st.one_of(st.just("0.00"), st.decimals(min_value="0.00", max_value="500", places=2)),
    st.one_of(st.none(), st.sampled_from(["5411", "6011"])),
)


def frame(rows: list[tuple[int, str, str, object, str | None]]) -> pd.DataFrame:
    df = pd.DataFrame(
        {
            "transaction_id": [f"tx{i:03d}" for i in range(len(rows))],
            "timestamp": pd.to_datetime([BASE + r[0] for r in rows], unit="s", utc=True),
            "customer_id": [r[1] for r in rows],
            "terminal_id": [r[2] for r in rows],
            "amount": [float(r[3]) for r in rows],  # type: ignore[arg-type]
            "mcc": [r[4] for r in rows],
        }
    )
    good, bad = validate_history(df)
    assert bad.empty
    return good


label_picks_strategy = st.lists(
    st.tuples(st.integers(0, 29), st.sampled_from(LABEL_DELAYS), st.booleans())
)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(rows=st.lists(tx_strategy, min_size=1, max_size=30), label_picks=label_picks_strategy)
def test_fold_matches_reference_on_edges(
    rows: list[tuple[int, str, str, object, str | None]],
    label_picks: list[tuple[int, int, bool]],
) -> None:
    history = frame(rows)
    seen: dict[int, tuple[int, bool]] = {}
    for idx, delay, fraud in label_picks:
        if idx < len(rows):
            seen[idx] = (delay, fraud)  # one label per transaction (its latest)
    events, ref_rows = [], []
    for idx, (delay, fraud) in seen.items():
        r = history.iloc[idx]
        arrival = BASE + rows[idx][0] + delay
        events.append(LabelEvent(r.transaction_id, r.customer_id, r.terminal_id, arrival, fraud))
        ref_rows.append((r.transaction_id, arrival, int(fraud)))
    labels = pd.DataFrame(ref_rows, columns=["transaction_id", "arrival", "is_fraud"])
    compare(point_in_time_features(history, events), reference_features(history, labels))


def test_defaults_with_no_history() -> None:
    tx = Txn("t1", BASE + 3 * 3600, "c", "m", 42.5)
    v = dict(zip(FEATURE_NAMES, feature_vector(tx, EntityState(), EntityState()), strict=True))
    assert v["customer_nb_tx_30day"] == 1.0
    assert v["customer_avg_amount_7day"] == 42.5
    assert v["terminal_nb_tx_7day"] == 0.0 and v["terminal_risk_7day"] == 0.0
    assert v["customer_seconds_since_prev_tx"] == -1.0
    assert v["customer_amount_ratio_30day"] == 1.0
    assert v["customer_distinct_terminals_24h"] == 1.0 and v["customer_new_terminal"] == 1.0
    assert v["tx_during_night"] == 1.0 and v["tx_during_weekend"] == 1.0  # 03:00 on a Sunday
    assert v["tx_hour"] == 3.0
    assert (v["mcc"], v["country"], v["channel"]) == ("UNK", "UNK", "UNK")


def test_same_second_transactions_see_each_other_in_id_order() -> None:
    history = frame([(100, "alice", "T1", "10.00", None), (100, "alice", "T2", "20.00", None)])
    feats = point_in_time_features(history).set_index("transaction_id")
    assert feats.loc["tx000", "customer_nb_tx_1day"] == 1.0
    assert feats.loc["tx001", "customer_nb_tx_1day"] == 2.0
    assert feats.loc["tx001", "customer_seconds_since_prev_tx"] == 0.0
    assert feats.loc["tx001", "customer_distinct_terminals_24h"] == 2.0


def test_a_label_arriving_at_the_payment_second_is_not_yet_known() -> None:
    history = frame([(0, "alice", "T1", "10.00", None), (DAY, "bob", "T1", "10.00", None)])
    at_same_second = [LabelEvent("tx000", "alice", "T1", BASE + DAY, True)]
    one_second_earlier = [LabelEvent("tx000", "alice", "T1", BASE + DAY - 1, True)]
    late = point_in_time_features(history, at_same_second).set_index("transaction_id")
    known = point_in_time_features(history, one_second_earlier).set_index("transaction_id")
    assert late.loc["tx001", "terminal_risk_7day"] == 0.0
    assert known.loc["tx001", "terminal_risk_7day"] == 1.0  # a known fraud, no delayed tx count


def test_relabelling_to_legit_removes_the_known_fraud() -> None:
    history = frame([(0, "alice", "T1", "10.00", None), (2 * DAY, "bob", "T1", "10.00", None)])
    events = [
        LabelEvent("tx000", "alice", "T1", BASE + 3600, True),
        LabelEvent("tx000", "alice", "T1", BASE + 7200, False),
    ]
    feats = point_in_time_features(history, events).set_index("transaction_id")
    assert feats.loc["tx001", "terminal_risk_7day"] == 0.0


def test_zero_amount_payments_count_and_add_nothing() -> None:
    """$0 verification authorisations: counted in counts and means, 0 in sums, no division by a
    zero amount anywhere (the ratio falls back to 1 when the earlier amounts sum to 0)."""
    history = frame(
        [
            (0, "alice", "T1", "0.00", None),  # a card tester's $0 probe ...
            (30, "alice", "T1", "0.00", None),
            (60, "alice", "T2", "12.00", None),  # ... then a real payment
            (90, "alice", "T2", "0.00", None),
        ]
    )
    f = point_in_time_features(history).set_index("transaction_id")
    assert f.loc["tx000", "tx_amount"] == 0.0 and f.loc["tx000", "customer_avg_amount_1day"] == 0.0
    assert f.loc["tx000", "customer_amount_ratio_7day"] == 1.0  # no earlier payment
    assert f.loc["tx001", "customer_amount_ratio_7day"] == 1.0  # earlier ones sum to 0
    assert f.loc["tx001", "customer_count_10min"] == 2.0
    assert f.loc["tx001", "customer_amount_1h"] == 0.0
    assert f.loc["tx002", "customer_amount_ratio_7day"] == 1.0  # 12 vs a mean of 0: no mean
    assert f.loc["tx002", "customer_avg_amount_1day"] == 4.0  # (0 + 0 + 12) / 3
    assert f.loc["tx003", "customer_amount_ratio_7day"] == 0.0  # 0 / mean 4
    assert f.loc["tx003", "customer_avg_amount_7day"] == 3.0
    assert f.loc["tx003", "customer_nb_tx_1day"] == 4.0
    assert f.loc["tx003", "customer_amount_10min"] == 12.0
    assert np.isfinite(f.drop(columns=["mcc", "country", "channel"]).to_numpy(float)).all()
