"""Rule parity: the per-payment function (scoring) and the vectorised evaluation (backtest),
compiled from the same syntax tree, fire the same rules and decide the same on the same rows,
missing values and all; and a dataset's rows read as the scoring service's payments."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from fraudops.features import FEATURE_NAMES
from fraudops.readers import iter_txns
from fraudops.rules import DECISIONS, dataset_columns, load_rules, payment_values

NUMBERS = ("amount", "score", "customer_nb_tx_1day", "hour")
STRINGS = ("country", "channel", "customer_id")
WORDS = ("FR", "DE", "x", "")
LISTS = {"l1": frozenset({"FR", "x"}), "l2": frozenset()}

number_values = st.one_of(
    st.none(),
    st.just(math.nan),
    st.sampled_from([0.0, -0.0, 1.0, 2.5, -3.0, 1e308, math.inf]),
    st.floats(min_value=-1e6, max_value=1e6, allow_nan=False),
)
row = st.fixed_dictionaries(
    {
        **{n: number_values for n in NUMBERS},
        **{n: st.one_of(st.none(), st.sampled_from(WORDS)) for n in STRINGS},
    }
)

constants = st.sampled_from(["0", "1", "2.5", "1e308", "-3"])
numeric = st.recursive(
    st.one_of(st.sampled_from(NUMBERS), constants),
    lambda inner: st.one_of(
        st.tuples(inner, st.sampled_from(["+", "-", "*", "/"]), inner).map(
            lambda t: f"({t[0]} {t[1]} {t[2]})"
        ),
        inner.map(lambda e: f"-{e}"),
    ),
    max_leaves=4,
)
string_term = st.one_of(st.sampled_from(STRINGS), st.sampled_from(WORDS).map(lambda w: f'"{w}"'))
atoms = st.one_of(
    st.tuples(numeric, st.sampled_from(["<", "<=", ">", ">=", "==", "!="]), numeric).map(" ".join),
    st.tuples(string_term, st.sampled_from(["==", "!="]), string_term).map(" ".join),
    st.tuples(
        st.sampled_from(STRINGS),
        st.sampled_from(["in", "not in"]),
        st.sampled_from(["@l1", "@l2", "@absent", '("FR", "")', '("x",)']),
    ).map(" ".join),
    st.tuples(
        st.sampled_from(NUMBERS), st.sampled_from(["in", "not in"]), st.just("(0, 1, 2.5)")
    ).map(" ".join),
)
conditions = st.recursive(
    atoms,
    lambda inner: st.one_of(
        inner.map(lambda c: f"not ({c})"),
        st.tuples(inner, st.sampled_from(["and", "or"]), inner).map(
            lambda t: f"({t[0]}) {t[1]} ({t[2]})"
        ),
    ),
    max_leaves=6,
)
rule_sets = st.lists(
    st.tuples(st.sampled_from(["allow", "review", "decline"]), conditions), min_size=1, max_size=5
).map(lambda rules: "\n".join(f"{a} if {c}" for a, c in rules))


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(text=rule_sets, rows=st.lists(row, min_size=1, max_size=20), data=st.data())
def test_the_per_payment_function_and_the_vectors_agree(
    text: str, rows: list[dict[str, object]], data: st.DataObject
) -> None:
    compiled = load_rules(text)
    model = np.asarray(
        data.draw(st.lists(st.integers(0, 2), min_size=len(rows), max_size=len(rows)))
    )
    frame = pd.DataFrame(rows)
    fired = compiled.fired_frame(frame, LISTS)
    scores = frame.pop("score").to_numpy()
    assert (compiled.fired_frame(frame, LISTS, scores) == fired).all()
    decisions = compiled.decide_frame(fired, model)
    for i, values in enumerate(rows):
        outcome = compiled.decide(values, LISTS, DECISIONS[model[i]])
        expected = [n for j, n in enumerate(compiled.names) if fired[i, j]]
        assert list(outcome.fired) == expected, (text, values)
        assert outcome.decision == DECISIONS[decisions[i]], (text, values)


@pytest.mark.slow
def test_a_dataset_row_reads_as_the_scoring_service_payment(small_history: pd.DataFrame) -> None:
    """payment_values (hot path: the Txn, its feature vector, the score) and dataset_columns
    (backtest: the dataset's stored columns) give every rule the same values."""
    history = small_history.copy()
    rng = np.random.default_rng(3)
    for col in ("country", "channel", "mcc"):  # some payments without the optional fields
        history[col] = history[col].where(rng.random(len(history)) > 0.3, None)
    history["currency"] = None  # a dataset does not store it (the backtest says so)
    from tests.models.conftest import dataset_frame

    frame = dataset_frame(history.head(3000)).head(1500)
    scores = rng.random(len(frame))
    compiled = load_rules(
        'review if country == "FR" or country != "FR"\n'
        'decline if channel in ("ecommerce",) and mcc != "5411"\n'
        "review if amount > 100 and hour < 6 or weekday >= 5\n"
        "allow if score < 0.2 and customer_nb_tx_1day > 2 and terminal_id in @t\n"
        "review if customer_amount_24h / customer_avg_amount_30day > 3\n"
        "review if not currency in @none\n"
    )
    lists = {"t": frozenset(frame["terminal_id"].iloc[::3])}
    fired = compiled.fired_frame(dataset_columns(frame, scores), lists)
    bound = compiled.bind(lists)
    txns = {t.transaction_id: t for t in iter_txns(history.head(3000))}
    for i, rec in enumerate(frame.to_dict(orient="records")):
        features = {n: rec[n] for n in FEATURE_NAMES}
        values = payment_values(txns[rec["transaction_id"]], features, float(scores[i]))
        expected = [n for j, n in enumerate(compiled.names) if fired[i, j]]
        assert compiled.fired(values, lists) == expected, rec
        vector = [rec[n] for n in FEATURE_NAMES]  # the hot path's form: no mapping
        txn = txns[rec["transaction_id"]]
        served = compiled.decide_payment(txn, vector, float(scores[i]), bound, "approve")
        assert served[1] == expected
        if i % 100 == 0:  # the feature vector in contract order reads the same
            assert payment_values(txn, vector, float(scores[i])) == values
    assert fired[:, 0].sum() < len(frame)  # the missing countries fired neither way
    assert fired[:, 1:5].any(axis=0).all()
