"""What a rule reads, built the same way for one payment (scoring) and for a dataset's rows
(backtest): the payment's fields, the contract's features and the model's score.

Missing: a payment field not given is None; the dataset stores the categorical features'
"UNK" for it, which becomes None here too, so ``country`` means the same in both paths.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from fraudops.features import CATEGORICAL_FEATURES, FEATURE_NAMES, Value
from fraudops.features.definitions import UNKNOWN
from fraudops.profile_store.layout import DAY, HOUR
from fraudops.readers import epoch_seconds
from fraudops.rules.check import NAMES, PAYMENT_FIELDS
from fraudops.rules.vector import Columns, column_getter
from fraudops.schema import Txn

# in a dataset: the payment's amount is the tx_amount feature; currency is not stored
DATASET_SOURCES = {"amount": "tx_amount"}


def hour_of(txn: Txn) -> float:
    return float((txn.ts % DAY) // HOUR)


def weekday_of(txn: Txn) -> float:
    return float((txn.ts // DAY + 3) % 7)  # 1970-01-01 was a Thursday


# the payment's fields a rule reads: derived from its timestamp (fraudops.rules.codegen inlines
# the same arithmetic), or Txn attributes (never NaN: a Txn's amount is validated finite)
PAYMENT_GETTERS: dict[str, Callable[[Txn], float]] = {"hour": hour_of, "weekday": weekday_of}
PAYMENT_ATTRIBUTES = tuple(n for n in PAYMENT_FIELDS if n not in PAYMENT_GETTERS)


def payment_values(
    txn: Txn, features: Mapping[str, Value] | Sequence[Value], score: float | None
) -> dict[str, Any]:
    """The mapping a compiled rule set reads for one payment: ``features`` by name, or the
    feature vector in contract order (fraudops.features.feature_vector)."""
    values: dict[str, Any] = (
        dict(features)
        if isinstance(features, Mapping)
        else dict(zip(FEATURE_NAMES, features, strict=True))
    )
    values.update({name: getattr(txn, name) for name in PAYMENT_ATTRIBUTES})
    values.update({name: getter(txn) for name, getter in PAYMENT_GETTERS.items()})
    values["score"] = score
    return values


def dataset_columns(frame: pd.DataFrame, scores: np.ndarray | None) -> Columns:
    """The columns the vectorised rules read from a dataset's rows (+ the model's scores),
    each converted only if a rule reads it."""
    sources: dict[str, Callable[[], Any]] = {}
    for name in NAMES:
        source = DATASET_SOURCES.get(name, name)
        if source in frame.columns:
            sources[name] = column_getter(frame, source)
    if "timestamp" in frame.columns:
        sources["hour"] = lambda: (epoch_seconds(frame["timestamp"]) % DAY) // HOUR
        sources["weekday"] = lambda: (epoch_seconds(frame["timestamp"]) // DAY + 3) % 7
    if scores is not None:
        sources["score"] = lambda: scores
    return Columns(len(frame), sources, dict.fromkeys(CATEGORICAL_FEATURES, UNKNOWN))


def absent_fields(frame: pd.DataFrame) -> list[str]:
    """Payment fields a dataset does not hold (always missing in its backtest)."""
    have = {DATASET_SOURCES.get(n, n) for n in PAYMENT_FIELDS if n not in PAYMENT_GETTERS}
    return sorted(n for n in have if n not in frame.columns)
