"""The Handbook's train/delay/test split and known-card removal on a hand-made calendar."""

from __future__ import annotations

from datetime import date

import pandas as pd

from models.handbook import best_published, epoch_day, train_test_split


def test_split_removes_cards_with_frauds_known_before_each_test_day() -> None:
    start = date(2018, 7, 25)
    d0 = epoch_day(start)
    rows = [
        (d0 + 1, "known_in_train", 1),  # fraud in the train week: removed from every test day
        # test day d0 + 14 + i adds the frauds of day d0 + 7 + i - 1 (the Handbook's code)
        (d0 + 8, "known_in_delay", 1),  # reached at test day i = 2
        (d0 + 13, "too_late", 1),  # would need i = 7: never reached
        (d0 + 7, "legit", 0),
    ]
    for i in range(7):  # one payment of each card on every test day
        rows += [(d0 + 14 + i, card, 0) for card in
                 ("known_in_train", "known_in_delay", "too_late", "legit")]  # fmt: skip
    frame = pd.DataFrame(rows, columns=["day", "customer_id", "is_fraud"])
    split = train_test_split(frame, start)
    assert list(split.train["customer_id"]) == ["known_in_train"]
    test = split.test.groupby("day")["customer_id"].apply(set).to_dict()
    for i in (0, 1):
        assert test[d0 + 14 + i] == {"known_in_delay", "too_late", "legit"}
    for i in range(2, 7):
        assert test[d0 + 14 + i] == {"too_late", "legit"}


def test_best_published_figures() -> None:
    assert best_published("auc_roc") == 0.879
    assert best_published("average_precision") == 0.687
    assert best_published("card_precision_at_100") == 0.305
