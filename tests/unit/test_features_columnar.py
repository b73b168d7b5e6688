"""The columnar fold gives exactly (bit for bit) the event-by-event fold's features."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from fraudops.features import PART_NAMES, part_values
from fraudops.features.columnar import TxColumns, final_profiles, fold_part_frame, part_columns
from fraudops.features.offline import (
    LABEL_FRAME_COLUMNS,
    fixed_delay_label_frame,
    fold_entities,
    label_events,
    part_frame,
)
from fraudops.profile_store.layout import DAY
from fraudops.readers import epoch_seconds, iter_txns
from tests.unit.test_features_edges import BASE, frame, label_picks_strategy, tx_strategy


def _labels_with_relabels(history: pd.DataFrame, seed: int) -> pd.DataFrame:
    """The Handbook's delayed fraud labels, plus in-app answers, chargebacks that flip them back
    and forth, repeats, and labels arriving at the very second of a later payment."""
    rng = np.random.default_rng(seed)
    base = fixed_delay_label_frame(history, 7)
    ts = epoch_seconds(history["timestamp"])
    ids = history[["transaction_id", "customer_id", "terminal_id"]].reset_index(drop=True)
    extra = []
    for _ in range(3):
        pick = rng.choice(len(history), size=len(history) // 20, replace=False)
        delay = rng.choice([0, 1, 60, 3600, DAY - 1, DAY, 3 * DAY, 7 * DAY, 40 * DAY], len(pick))
        extra.append(
            ids.iloc[pick].assign(
                arrival_ts=ts[pick] + delay, is_fraud=rng.integers(0, 2, len(pick)).astype("int8")
            )
        )
    # a label arriving exactly when a later payment happens (the payment must not see it)
    later = rng.choice(len(history) - 1, size=200, replace=False)
    extra.append(ids.iloc[later].assign(arrival_ts=ts[later + 1], is_fraud=np.int8(1)))
    # two opposite labels of one transaction in the same second: input order decides
    twice = ids.iloc[later[:50]].assign(arrival_ts=ts[later[:50]] + 5, is_fraud=np.int8(1))
    extra += [twice, twice.assign(is_fraud=np.int8(0))]
    labels = pd.concat([base, *extra], ignore_index=True)[LABEL_FRAME_COLUMNS]
    return labels.iloc[rng.permutation(len(labels))].reset_index(drop=True)


def _event_fold(kind: str, history: pd.DataFrame, labels: pd.DataFrame) -> pd.DataFrame:
    parts, _ = fold_entities(kind, [*iter_txns(history), *label_events(labels)])  # type: ignore[arg-type]
    return part_frame(kind, parts)  # type: ignore[arg-type]


def assert_same(ours: pd.DataFrame, expected: pd.DataFrame) -> None:
    ours = ours.set_index("transaction_id").sort_index()
    expected = expected.set_index("transaction_id").sort_index()
    assert list(ours.columns) == list(expected.columns)
    assert list(ours.index) == list(expected.index)
    for name in expected.columns:
        a, b = ours[name].to_numpy(), expected[name].to_numpy()
        assert a.dtype == b.dtype, name
        bad = a != b  # the same float64 bits, not merely close
        assert not bad.any(), (name, ours.index[bad][:3].tolist(), a[bad][:3], b[bad][:3])
    # the ids may keep their Arrow string type: the values are what must match
    pd.testing.assert_frame_equal(ours, expected, check_exact=True, check_index_type=False)


@pytest.mark.parametrize("kind", ["customer", "terminal"])
def test_columnar_fold_equals_event_fold_with_relabels(
    small_history: pd.DataFrame, kind: str
) -> None:
    labels = _labels_with_relabels(small_history, seed=3)
    # shuffled rows: the fold must not depend on input order (ties aside)
    shuffled = small_history.sample(frac=1.0, random_state=1).reset_index(drop=True)
    ours = fold_part_frame(kind, shuffled, labels)  # type: ignore[arg-type]
    assert ours is not None
    assert_same(ours, _event_fold(kind, shuffled, labels))


@pytest.mark.parametrize("kind", ["customer", "terminal"])
def test_columnar_fold_with_a_cutoff(small_history: pd.DataFrame, kind: str) -> None:
    labels = _labels_with_relabels(small_history, seed=5)
    cut = int(np.median(epoch_seconds(small_history["timestamp"])))
    ours = fold_part_frame(kind, small_history, labels, as_of=cut)  # type: ignore[arg-type]
    assert ours is not None
    events = [*iter_txns(small_history), *label_events(labels)]
    parts, _ = fold_entities(kind, events, as_of=cut)  # type: ignore[arg-type]
    assert_same(ours, part_frame(kind, parts))  # type: ignore[arg-type]


def test_transaction_part_columns_equal_the_per_transaction_values(
    small_history: pd.DataFrame,
) -> None:
    history = small_history.copy()
    history.loc[history.index[::7], "mcc"] = None
    history.loc[history.index[::5], "channel"] = ""
    ours = part_columns("transaction", TxColumns.from_frame(history), None)
    rows = [part_values("transaction", tx) for tx in iter_txns(history)]
    expected = pd.DataFrame(rows, columns=list(PART_NAMES["transaction"]))
    pd.testing.assert_frame_equal(ours, expected, check_exact=True)


def test_huge_amounts_fall_back_to_the_event_fold() -> None:
    history = frame([(0, "alice", "T1", "1", None), (60, "alice", "T1", "2", None)])
    history["amount"] = [4e15, 5e15]
    empty = pd.DataFrame(columns=LABEL_FRAME_COLUMNS)
    assert fold_part_frame("customer", history, empty) is None


def picked_labels(
    history: pd.DataFrame,
    rows: list[tuple[int, str, str, object, str | None]],
    label_picks: list[tuple[int, int, bool]],
) -> pd.DataFrame:
    """Label events for the picked rows: (row, delay after its payment, fraud)."""
    return pd.DataFrame(
        [
            (
                history.transaction_id.iloc[i],
                history.customer_id.iloc[i],
                history.terminal_id.iloc[i],
                BASE + rows[i][0] + delay,
                int(fraud),
            )
            for i, delay, fraud in label_picks
            if i < len(rows)
        ],
        columns=LABEL_FRAME_COLUMNS,
    )


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(rows=st.lists(tx_strategy, min_size=1, max_size=30), label_picks=label_picks_strategy)
def test_columnar_fold_equals_event_fold_on_edges(
    rows: list[tuple[int, str, str, object, str | None]],
    label_picks: list[tuple[int, int, bool]],
) -> None:
    history = frame(rows)
    labels = picked_labels(history, rows, label_picks)
    for kind in ("customer", "terminal"):
        ours = fold_part_frame(kind, history, labels)  # type: ignore[arg-type]
        assert ours is not None
        assert_same(ours, _event_fold(kind, history, labels))


def _event_profiles(
    kind: str, history: pd.DataFrame, labels: pd.DataFrame, as_of: int | None
) -> dict[str, tuple[dict[str, int], dict[str, int]]]:
    events = [*iter_txns(history), *label_events(labels)]
    _, folds = fold_entities(kind, events, as_of, features=False)  # type: ignore[arg-type]
    return {e: (f.state.to_hash(), dict(f.labels)) for e, f in folds.items()}


def assert_same_profiles(ours: list | None, expected: dict) -> None:  # type: ignore[type-arg]
    assert ours is not None
    got = {entity_id: (fields, labels) for entity_id, fields, labels in ours}
    assert len(got) == len(ours)  # each entity once
    assert set(got) == set(expected)
    for entity_id, (fields, labels) in expected.items():
        assert got[entity_id][0] == fields, entity_id
        assert got[entity_id][1] == labels, entity_id
        for value in [*got[entity_id][0].values(), *got[entity_id][1].values()]:
            assert type(value) is int  # what the Redis client is given


@pytest.mark.parametrize("kind", ["customer", "terminal"])
@pytest.mark.parametrize("cut", [None, 0.5, 0.999])
def test_final_profiles_equal_the_event_fold(
    small_history: pd.DataFrame, kind: str, cut: float | None
) -> None:
    labels = _labels_with_relabels(small_history, seed=11)
    ts = epoch_seconds(small_history["timestamp"])
    as_of = None if cut is None else int(np.quantile(ts, cut))
    shuffled = small_history.sample(frac=1.0, random_state=2).reset_index(drop=True)
    ours = final_profiles(kind, shuffled, labels, as_of)  # type: ignore[arg-type]
    assert_same_profiles(ours, _event_profiles(kind, shuffled, labels, as_of))


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    rows=st.lists(tx_strategy, min_size=1, max_size=30),
    label_picks=label_picks_strategy,
    cut=st.one_of(st.none(), st.integers(0, 50 * DAY)),
)
def test_final_profiles_equal_the_event_fold_on_edges(
    rows: list[tuple[int, str, str, object, str | None]],
    label_picks: list[tuple[int, int, bool]],
    cut: int | None,
) -> None:
    history = frame(rows)
    labels = picked_labels(history, rows, label_picks)
    as_of = None if cut is None else BASE + cut
    for kind in ("customer", "terminal"):
        ours = final_profiles(kind, history, labels, as_of)  # type: ignore[arg-type]
        assert_same_profiles(ours, _event_profiles(kind, history, labels, as_of))


@pytest.mark.parametrize("late", [0, 1, 2, 3, DAY - 1])
def test_final_profiles_prune_pairs_at_the_horizon_as_the_event_fold(late: int) -> None:
    # terminals last used 90 days (give or take a second) before the last event day's first one
    rows = [(i, "alice", f"T{i}", "10.00", None) for i in range(4)]
    rows += [(90 * DAY + late, "alice", "T9", "5.00", None), (91 * DAY, "alice", "T2", "1", None)]
    rows += [(91 * DAY + 5, "bob", "T1", "2.00", None)]
    history = frame(rows)
    labels = pd.DataFrame(
        [("tx000", "alice", "T0", BASE + 92 * DAY + late, 1)], columns=LABEL_FRAME_COLUMNS
    )
    for kind in ("customer", "terminal"):
        for as_of in (None, BASE + 91 * DAY, BASE + 91 * DAY + 1, BASE + 90 * DAY + late + 1):
            ours = final_profiles(kind, history, labels, as_of)  # type: ignore[arg-type]
            assert_same_profiles(ours, _event_profiles(kind, history, labels, as_of))


def test_zero_amounts_give_the_same_features_and_profiles_on_both_paths(
    small_history: pd.DataFrame,
) -> None:
    """$0 payments (card testers' probes, account verifications) in the simulated history and a
    customer with nothing but $0 payments: the same bits on both paths, and no amount field
    holding 0 in a profile (the Redis script deletes a field that would hold 0)."""
    zeros = small_history["amount"] == 0
    assert zeros.sum() > 100 and small_history.loc[zeros, "fraud_scenario"].eq(4).all()
    only_zero = frame([(t, "zed", "T9", "0.00", None) for t in (0, 10, 70, 3600, DAY, 8 * DAY)])
    history = pd.concat([small_history.head(3000), only_zero], ignore_index=True)
    labels = _labels_with_relabels(history.head(3000), seed=4)
    for kind in ("customer", "terminal"):
        ours = fold_part_frame(kind, history, labels)  # type: ignore[arg-type]
        assert ours is not None
        assert_same(ours, _event_fold(kind, history, labels))
        profiles = final_profiles(kind, history, labels)  # type: ignore[arg-type]
        assert_same_profiles(profiles, _event_profiles(kind, history, labels, None))
        assert profiles is not None
        assert all(v != 0 for _, fields, _ in profiles for v in fields.values())
    zed = dict((e, f) for e, f, _ in final_profiles("customer", only_zero, labels.head(0)) or [])
    assert not [k for k in zed["zed"] if k.endswith(":a")]
    assert sum(v for k, v in zed["zed"].items() if k.startswith("d:") and k.endswith(":n")) >= 1
