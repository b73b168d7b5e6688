"""Behavioural tests of a trained model: it reacts to what fraud looks like, not to identities.

Profiles are folded from the simulated history up to a cut-off with the core code, then new
payments are scored as the scoring service would: feature_vector(tx, customer, terminal).
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from fraudops.features import FEATURE_NAMES, feature_vector
from fraudops.features.offline import EntityFold, fixed_delay_labels, fold_entities
from fraudops.profile_store.layout import DAY, label_update, transaction_update
from fraudops.readers import epoch_seconds, iter_txns
from fraudops.schema import Txn
from models import artifact
from models.registry import Registry
from tests.models.conftest import dataset_frame

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def model(trained: dict[str, Path]) -> artifact.LoadedModel:
    return artifact.load(Registry(trained["registry"]), "m1")


@pytest.fixture(scope="module")
def profiles(small_history: pd.DataFrame) -> dict[str, object]:
    """Customer and terminal folds as of three days before the end of the history."""
    as_of = int(epoch_seconds(small_history["timestamp"]).max()) - 3 * DAY
    events = [*iter_txns(small_history), *fixed_delay_labels(small_history)]
    _, customers = fold_entities("customer", events, as_of, features=False)
    _, terminals = fold_entities("terminal", events, as_of, features=False)
    before = small_history.loc[epoch_seconds(small_history["timestamp"]) < as_of]
    # real customer/terminal pairs with the terminal's own attributes; terminals with no fraud
    # in the 40 days before the cut-off (none known, none pending)
    last = before.drop_duplicates(["customer_id", "terminal_id"], keep="last")
    recent = before.loc[epoch_seconds(before["timestamp"]) >= as_of - 40 * DAY]
    compromised = recent.loc[recent["is_fraud"] == 1, "terminal_id"]
    clean = ~last["terminal_id"].isin(compromised)
    pairs = last.loc[clean].sample(150, random_state=1)
    return {"as_of": as_of, "c": customers, "t": terminals, "pairs": list(pairs.itertuples(False))}


def score(model: artifact.LoadedModel, txs: list[Txn], folds: list[tuple[EntityFold, EntityFold]]
          ) -> np.ndarray:  # fmt: skip
    rows = [feature_vector(tx, c.state, t.state) for tx, (c, t) in zip(txs, folds, strict=True)]
    return model.score(pd.DataFrame(rows, columns=list(FEATURE_NAMES)))


def payment(i: int, ts: int, row: Any, amount: float, customer: str | None = None) -> Txn:
    """A new payment of ``row``'s customer at ``row``'s terminal, with the terminal's attributes."""
    return Txn(f"probe-{i}", ts, customer or row.customer_id, row.terminal_id, amount,
               row.currency, row.mcc, row.country, row.channel)  # fmt: skip


def test_a_payment_over_220_scores_higher_than_the_same_at_20(
    model: artifact.LoadedModel, profiles: dict
) -> None:
    ts = profiles["as_of"] + 3600
    pairs = profiles["pairs"]
    folds = [(profiles["c"][r.customer_id], profiles["t"][r.terminal_id]) for r in pairs]
    small = score(model, [payment(i, ts, r, 20.0) for i, r in enumerate(pairs)], folds)
    large = score(model, [payment(i, ts, r, 250.0) for i, r in enumerate(pairs)], folds)
    assert (large > small).all(), f"{int((large <= small).sum())} of {len(small)} did not rise"


def test_a_burst_of_fraud_at_a_terminal_raises_its_later_scores(
    model: artifact.LoadedModel, profiles: dict
) -> None:
    as_of = profiles["as_of"]
    before, after, folds = [], [], []
    for i, row in enumerate(profiles["pairs"]):
        customer = profiles["c"][row.customer_id]
        clean = profiles["t"][row.terminal_id]
        hit = EntityFold("terminal", copy.deepcopy(clean.state))
        # the terminal is compromised: ten payments of other cards 9 days ago, all fraud,
        # and their labels arrive two days ago (the delay of the protocol)
        for j in range(10):
            burst = payment(j, as_of - 9 * DAY + 60 * j, row, 60.0, customer=f"victim-{j}")
            hit.state.apply(transaction_update(burst, "terminal"))
            hit.state.apply(label_update(as_of - 2 * DAY, 1))
        tx = payment(i, as_of + 3600, row, 45.0)
        folds.append(((customer, clean), (customer, hit)))
        before.append(tx)
        after.append(tx)
    s_clean = score(model, before, [f[0] for f in folds])
    s_hit = score(model, after, [f[1] for f in folds])
    # boosted trees on 20k rows are not monotone everywhere: since the card testers' $0 probes
    # joined the training data, 1 of the 150 (at a score under 0.01) moves by -1 %, and the
    # median rises 9x (it rose more than 10x before)
    rose = s_hit > s_clean
    assert rose.mean() >= 0.99, f"{int((~rose).sum())} did not rise"
    assert (s_hit >= 0.95 * s_clean).all(), "a score fell"
    assert np.median(s_hit) > 5 * np.median(s_clean)


def test_relabelling_ids_changes_no_score(
    model: artifact.LoadedModel, small_history: pd.DataFrame, model_frame: pd.DataFrame
) -> None:
    rng = np.random.default_rng(5)
    renamed = small_history.copy()
    for col, prefix in (("customer_id", "card-"), ("terminal_id", "shop-")):
        ids = renamed[col].unique()
        mapping = dict(zip(ids, [f"{prefix}{k}" for k in rng.permutation(len(ids))], strict=True))
        renamed[col] = renamed[col].map(mapping)
    # transaction ids keep their order: at equal timestamps the contract orders events by id
    order = renamed["transaction_id"].rank(method="first").astype(int)
    renamed["transaction_id"] = [f"pay-{k:09d}" for k in order]
    frame = dataset_frame(renamed)
    ids = dict(zip(small_history["transaction_id"], renamed["transaction_id"], strict=True))
    original = model_frame.assign(transaction_id=model_frame["transaction_id"].map(ids))
    a = original.sort_values("transaction_id", ignore_index=True)
    b = frame.sort_values("transaction_id", ignore_index=True)
    np.testing.assert_array_equal(model.score(a), model.score(b))
