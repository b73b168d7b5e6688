"""The Fraud Detection Handbook's evaluation protocols (chapters 3 and 5) and published numbers.

Splits follow the Handbook's ``get_train_test_set``: train on ``delta_train`` days, skip
``delta_delay`` days (labels not known yet), test on ``delta_test`` days. A card with a fraud
known before a test day is removed from that day: frauds of the train week, then, cumulatively,
frauds of the day ``delta_delay + 1`` days before each test day (the Handbook's code uses
``start + delta_train + i - 1`` for test day ``start + delta_train + delta_delay + i``).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

import numpy as np
import pandas as pd

EPOCH = date(1970, 1, 1)

PUBLISHED: dict[str, dict[str, dict[str, float]]] = {
    "ch3": {
        "logistic regression": {"auc_roc": 0.871, "average_precision": 0.606,
                                "card_precision_at_100": 0.291},
        "random forest": {"auc_roc": 0.867, "average_precision": 0.658,
                          "card_precision_at_100": 0.287},
        "xgboost": {"auc_roc": 0.862, "average_precision": 0.639,
                    "card_precision_at_100": 0.273},
    },
    "ch5": {
        "random forest": {"auc_roc": 0.870, "average_precision": 0.678,
                          "card_precision_at_100": 0.299},
        "xgboost": {"auc_roc": 0.869, "average_precision": 0.687,
                    "card_precision_at_100": 0.303},
        "feed-forward nn": {"auc_roc": 0.876, "average_precision": 0.675,
                            "card_precision_at_100": 0.303},
        "balanced bagging": {"auc_roc": 0.879, "average_precision": 0.680,
                             "card_precision_at_100": 0.305},
    },
}  # fmt: skip
METRICS = ("auc_roc", "average_precision", "card_precision_at_100")

CH3_TRAIN_START = date(2018, 7, 25)
CH5_TEST_STARTS = (date(2018, 8, 15), date(2018, 8, 8), date(2018, 8, 1), date(2018, 7, 25))
# Chapter 5 chooses hyper-parameters on folds that end where the test folds begin
CH5_VALIDATION_STARTS = (date(2018, 7, 11), date(2018, 7, 4), date(2018, 6, 27), date(2018, 6, 20))


def best_published(metric: str) -> float:
    return max(m[metric] for chapter in PUBLISHED.values() for m in chapter.values())


def epoch_day(d: date) -> int:
    return (d - EPOCH).days


@dataclass(frozen=True)
class Split:
    start: date
    train: pd.DataFrame
    test: pd.DataFrame


def train_test_split(
    frame: pd.DataFrame,
    start: date,
    delta_train: int = 7,
    delta_delay: int = 7,
    delta_test: int = 7,
) -> Split:
    """``frame`` needs ``day`` (epoch day), ``customer_id`` and ``is_fraud`` columns."""
    first = epoch_day(start)
    days = frame["day"].to_numpy()
    train = frame.loc[(days >= first) & (days < first + delta_train)]
    known = set(train.loc[train["is_fraud"] == 1, "customer_id"])
    tests = []
    for i in range(delta_test):
        delay_day = frame.loc[days == first + delta_train + i - 1]
        known |= set(delay_day.loc[delay_day["is_fraud"] == 1, "customer_id"])
        test_day = frame.loc[days == first + delta_train + delta_delay + i]
        tests.append(test_day.loc[~test_day["customer_id"].isin(known)])
    test = pd.concat(tests) if tests else frame.iloc[:0]
    return Split(start, train, test)


def mean_std(folds: list[dict[str, float]]) -> dict[str, float]:
    out: dict[str, float] = {}
    for metric in METRICS:
        values = np.array([f[metric] for f in folds], dtype=float)
        out[metric] = float(values.mean())
        out[metric + "_std"] = float(values.std())
    return out
