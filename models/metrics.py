"""Evaluation at transaction level, at card level (the Handbook's Card Precision@k) and in money.

Card Precision@k follows the Fraud Detection Handbook (chapter 4): per day, cards already found
compromised on EARLIER days are dropped, each remaining card gets the max score and max label of
its transactions that day, cards are ranked by score, and the fraudulent ones among the top k are
counted and divided by k; the daily values are averaged. A card counts as found when it was a
fraudulent card in a day's top k.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from sklearn.metrics import average_precision_score, roc_auc_score, roc_curve

from fraudops.readers import epoch_seconds

DAY_S = 86_400


def auc_roc(labels: np.ndarray, scores: np.ndarray) -> float:
    """Area under the ROC curve; NaN when only one class is present (undefined, not 0.5)."""
    y = np.asarray(labels)
    if y.min(initial=0) == y.max(initial=0):
        return float("nan")
    return float(roc_auc_score(y, scores))


def average_precision(labels: np.ndarray, scores: np.ndarray) -> float:
    y = np.asarray(labels)
    if not y.any():
        return float("nan")
    return float(average_precision_score(y, scores))


def recall_at_fpr(labels: np.ndarray, scores: np.ndarray, max_fpr: float = 0.01) -> float:
    """Highest recall reachable by a threshold whose false-positive rate is at most ``max_fpr``."""
    y = np.asarray(labels)
    if y.min(initial=0) == y.max(initial=0):
        return float("nan")
    fpr, tpr, _ = roc_curve(y, scores)
    return float(tpr[fpr <= max_fpr].max())


@dataclass(frozen=True)
class CardPrecision:
    mean: float
    per_day: list[float]
    compromised_cards_per_day: list[int]


def card_precision_at_k(
    frame: pd.DataFrame,
    k: int = 100,
    *,
    day: str = "day",
    card: str = "customer_id",
    score: str = "score",
    label: str = "is_fraud",
    remove_detected: bool = True,
) -> CardPrecision:
    """The Handbook's CP@k over the days of ``frame`` (columns ``day, card, score, label``)."""
    if k <= 0:
        raise ValueError("k must be positive")
    detected: set[Any] = set()
    per_day: list[float] = []
    compromised: list[int] = []
    for _, rows in frame[[day, card, score, label]].groupby(day, sort=True):
        rows = rows.loc[~rows[card].isin(detected)]
        cards = rows.groupby(card, sort=False).agg(score=(score, "max"), label=(label, "max"))
        compromised.append(int((cards["label"] > 0).sum()))
        # stable order: by score, ties by card id, so the result does not depend on row order
        top = cards.reset_index().sort_values(["score", card], ascending=[False, True]).head(k)
        found = top.loc[top["label"] > 0, card]
        per_day.append(len(found) / k)
        if remove_detected:
            detected.update(found)
    mean = float(np.mean(per_day)) if per_day else float("nan")
    return CardPrecision(mean, per_day, compromised)


def day_index(timestamps: pd.Series) -> np.ndarray:
    """UTC day number of each timestamp (days since 1970-01-01)."""
    return epoch_seconds(timestamps) // DAY_S


def decide(scores: np.ndarray, review: float, decline: float | None) -> np.ndarray:
    """0 approve, 1 review, 2 decline: the rule the scoring service applies."""
    s = np.asarray(scores)
    out = np.where(s >= review, 1, 0)
    if decline is not None:
        out = np.where(s >= decline, 2, out)
    return out


def money_view(
    amounts: np.ndarray,
    labels: np.ndarray,
    scores: np.ndarray,
    review: float,
    decline: float | None,
) -> dict[str, float]:
    """Fraud money stopped or held versus legitimate money held or declined at the thresholds."""
    a = np.asarray(amounts, dtype=float)
    y = np.asarray(labels).astype(bool)
    d = decide(scores, review, decline)
    fraud_total = float(a[y].sum())
    caught = float(a[y & (d > 0)].sum())
    return {
        "fraud_amount": fraud_total,
        "fraud_amount_declined": float(a[y & (d == 2)].sum()),
        "fraud_amount_caught": caught,
        "fraud_amount_caught_share": caught / fraud_total if fraud_total else float("nan"),
        "legit_amount_held": float(a[~y & (d > 0)].sum()),
        "legit_amount_declined": float(a[~y & (d == 2)].sum()),
    }


def evaluate(
    frame: pd.DataFrame,
    scores: np.ndarray,
    thresholds: dict[str, Any] | None = None,
    k: int = 100,
) -> dict[str, Any]:
    """All numbers for a scored frame with ``timestamp, customer_id, is_fraud, tx_amount``."""
    y = frame["is_fraud"].to_numpy()
    s = np.asarray(scores, dtype=float)
    days = day_index(frame["timestamp"])
    cards = pd.DataFrame(
        {"day": days, "customer_id": frame["customer_id"].to_numpy(), "score": s, "is_fraud": y}
    )
    cp = card_precision_at_k(cards, k)
    out: dict[str, Any] = {
        "rows": len(frame),
        "frauds": int(y.sum()),
        "days": len(np.unique(days)),
        "auc_roc": auc_roc(y, s),
        "average_precision": average_precision(y, s),
        "recall_at_1pct_fpr": recall_at_fpr(y, s, 0.01),
        f"card_precision_at_{k}": cp.mean,
    }
    if thresholds is not None:
        review, decline = thresholds["review"], thresholds.get("decline")
        d = decide(s, review, decline)
        n_days = max(1, out["days"])
        out["alerts_per_day"] = float((d == 1).sum() / n_days)
        out["declines_per_day"] = float((d == 2).sum() / n_days)
        flagged = d > 0
        out["flagged_precision"] = float(y[flagged].mean()) if flagged.any() else float("nan")
        out["decline_precision"] = float(y[d == 2].mean()) if (d == 2).any() else float("nan")
        out["money"] = money_view(frame["tx_amount"].to_numpy(), y, s, review, decline)
    return out
