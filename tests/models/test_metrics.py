"""Evaluation metrics and threshold choice on hand-made examples (pure, no model)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import average_precision_score

from models.metrics import (
    auc_roc,
    average_precision,
    card_precision_at_k,
    decide,
    money_view,
    recall_at_fpr,
)
from models.thresholds import choose_thresholds, decline_threshold, review_threshold

# day, card, score, label: two days, k = 2 (worked through in the docstring of each assertion)
CARDS = pd.DataFrame(
    [
        (0, "A", 0.90, 1), (0, "A", 0.10, 0), (0, "B", 0.80, 0), (0, "C", 0.70, 1),
        (0, "D", 0.20, 1),
        (1, "A", 0.95, 1), (1, "C", 0.92, 1), (1, "D", 0.90, 0), (1, "B", 0.10, 0),
    ],
    columns=["day", "customer_id", "score", "is_fraud"],
)  # fmt: skip


def test_card_precision_at_k_drops_cards_detected_on_earlier_days() -> None:
    # day 0: cards by max score A(0.9, fraud) B(0.8) C(0.7, fraud) D(0.2, fraud): top 2 = A, B
    #        -> 1/2; A is now detected
    # day 1: A is dropped; C(0.92, fraud) D(0.9, legit) B(0.1): top 2 = C, D -> 1/2
    cp = card_precision_at_k(CARDS, k=2)
    assert cp.per_day == [0.5, 0.5]
    assert cp.mean == 0.5
    assert cp.compromised_cards_per_day == [3, 1]
    # without dropping, day 1's top 2 are A and C, both fraudulent
    assert card_precision_at_k(CARDS, k=2, remove_detected=False).per_day == [0.5, 1.0]


def test_card_precision_uses_each_cards_max_score_and_label_and_ignores_row_order() -> None:
    shuffled = CARDS.sample(frac=1.0, random_state=3)
    assert card_precision_at_k(shuffled, k=2).per_day == [0.5, 0.5]
    # k larger than the cards of a day still divides by k (the Handbook's definition); day 0
    # finds A, C and D, so day 1 has only B left
    assert card_precision_at_k(CARDS, k=10).per_day == [0.3, 0.0]
    with pytest.raises(ValueError):
        card_precision_at_k(CARDS, k=0)


def test_recall_at_one_percent_false_positive_rate() -> None:
    legit = np.arange(100) / 100  # 0.00 .. 0.99
    fraud = np.array([0.995, 0.985, 0.975, 0.5, 0.4, 0.3, 0.2, 0.1, 0.05, 0.01])
    y = np.r_[np.zeros(100), np.ones(10)]
    s = np.r_[legit, fraud]
    # one false positive (0.99) is allowed: thresholds down to 0.985 catch 2 of 10 frauds
    assert recall_at_fpr(y, s, 0.01) == pytest.approx(0.2)
    assert recall_at_fpr(y, s, 0.0) == pytest.approx(0.1)


def test_auc_and_ap_match_their_definitions_and_are_undefined_for_one_class() -> None:
    y = np.array([0, 0, 1, 1, 0, 1])
    s = np.array([0.1, 0.4, 0.35, 0.8, 0.2, 0.9])
    # AUC = share of (fraud, legit) pairs ranked correctly: 8 of 9
    assert auc_roc(y, s) == pytest.approx(8 / 9)
    assert average_precision(y, s) == pytest.approx(average_precision_score(y, s))
    assert np.isnan(auc_roc(np.zeros(3), np.ones(3)))
    assert np.isnan(average_precision(np.zeros(3), np.ones(3)))


def test_money_view_counts_held_and_declined_amounts() -> None:
    amounts = np.array([100.0, 50.0, 20.0, 10.0, 5.0])
    labels = np.array([1, 1, 0, 0, 1])
    scores = np.array([0.95, 0.6, 0.7, 0.1, 0.2])
    assert decide(scores, 0.5, 0.9).tolist() == [2, 1, 1, 0, 0]
    m = money_view(amounts, labels, scores, review=0.5, decline=0.9)
    assert m["fraud_amount"] == 155.0
    assert m["fraud_amount_declined"] == 100.0
    assert m["fraud_amount_caught"] == 150.0
    assert m["legit_amount_held"] == 20.0
    assert m["legit_amount_declined"] == 0.0
    never = money_view(amounts, labels, scores, review=0.5, decline=None)
    assert never["fraud_amount_declined"] == 0.0 and never["fraud_amount_caught"] == 150.0


def test_review_threshold_keeps_within_the_daily_budget() -> None:
    rng = np.random.default_rng(0)
    s = rng.uniform(size=1000)
    t = review_threshold(s, days=10, budget_per_day=3)
    assert (s >= t).sum() == 30
    # ties at the cut move the threshold above them rather than over the budget
    tied = np.r_[np.full(5, 0.9), np.full(10, 0.5), np.linspace(0, 0.4, 50)]
    t = review_threshold(tied, days=1, budget_per_day=8)
    assert (tied >= t).sum() == 5


def test_decline_threshold_meets_precision_with_support_or_never_declines() -> None:
    s = np.array([0.99, 0.98, 0.97, 0.96, 0.95, 0.90, 0.80, 0.70, 0.60, 0.50])
    y = np.array([1, 1, 1, 0, 1, 1, 0, 0, 1, 0])
    # precision at each cut: 1, 1, 1, .75, .8, .83, .71, .62, .67, .6
    assert decline_threshold(s, y, 0.8, min_support=4) == 0.90
    assert decline_threshold(s, y, 0.8, min_support=7) is None
    assert decline_threshold(s, y, 1.0, min_support=1) == 0.97
    t = choose_thresholds(s, y, days=1, budget_per_day=3, decline_precision=0.8, min_support=4)
    # a decline threshold below the review threshold is lifted to it (declines are flagged too)
    assert t["review"] == 0.97 and t["decline"] == 0.97
