"""What a rule reads, built the same way for one payment (scoring) and for a dataset's rows
(backtest): the payment's fields, the contract's features and the model's score.

Missing: a payment field not given is None; the dataset stores the categorical features'
"UNK" for it, which becomes None here too, so ``country`` means the same in both paths.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd

from fraudops.features import CATEGORICAL_FEATURES, Value
from fraudops.features.definitions import UNKNOWN
from fraudops.profile_store.layout import DAY, HOUR
from fraudops.readers import epoch_seconds
from fraudops.rules.check import NAMES, PAYMENT_FIELDS
from fraudops.rules.vector import Columns
from fraudops.schema import Txn

# in a dataset: the payment's amount is the tx_amount feature; currency is not stored
DATASET_SOURCES = {"amount": "tx_amount"}


def payment_values(txn: Txn, features: Mapping[str, Value], score: float | None) -> dict[str, Any]:
    """The mapping the compiled closures read for one payment."""
    values: dict[str, Any] = dict(features)
    values.update(
        amount=txn.amount,
        customer_id=txn.customer_id,
        terminal_id=txn.terminal_id,
        currency=txn.currency,
        mcc=txn.mcc,
        country=txn.country,
        channel=txn.channel,
        hour=float((txn.ts % DAY) // HOUR),
        weekday=float((txn.ts // DAY + 3) % 7),  # 1970-01-01 was a Thursday
        score=score,
    )
    return values


def dataset_columns(frame: pd.DataFrame, scores: np.ndarray | None) -> Columns:
    """The columns the vectorised rules read from a dataset's rows (+ the model's scores)."""
    out = pd.DataFrame(index=frame.index)
    for name in NAMES:
        source = DATASET_SOURCES.get(name, name)
        if source in frame.columns:
            out[name] = frame[source]
    for name in CATEGORICAL_FEATURES:
        if name in out.columns:
            col = out[name].astype(object)
            out[name] = col.where(col != UNKNOWN, None)
    if "timestamp" in frame.columns:
        ts = epoch_seconds(frame["timestamp"])
        out["hour"] = ((ts % DAY) // HOUR).astype(np.float64)
        out["weekday"] = ((ts // DAY + 3) % 7).astype(np.float64)
    if scores is not None:
        out["score"] = np.asarray(scores, dtype=np.float64)
    return Columns.from_frame(out)


def absent_fields(frame: pd.DataFrame) -> list[str]:
    """Payment fields a dataset does not hold (always missing in its backtest)."""
    have = {DATASET_SOURCES.get(n, n) for n in PAYMENT_FIELDS if n not in ("hour", "weekday")}
    return sorted(n for n in have if n not in frame.columns)
