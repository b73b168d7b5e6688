"""An independent, deliberately plain pandas computation of every feature of contract v1.

It shares nothing with fraudops.features but the written definitions (docs/features.md): pairwise
self-joins per entity, filtered by the window and by "strictly before in event order", then
aggregated. Slow and obvious, which is the point.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

DAY, HOUR, MINUTE = 86400, 3600, 60
DELAY = 7
HORIZON = 90 * DAY


def _prep(history: pd.DataFrame) -> pd.DataFrame:
    h = history.reset_index(drop=True).copy()
    h["s"] = ((h["timestamp"] - pd.Timestamp(0, tz="UTC")) // pd.Timedelta(seconds=1)).astype(
        np.int64
    )
    h["txid"] = h["transaction_id"].astype(str)
    h["m"], h["h"], h["d"] = h["s"] // MINUTE, h["s"] // HOUR, h["s"] // DAY
    h["amount"] = h["amount"].astype(float)
    return h


def _pairs(h: pd.DataFrame, key: str) -> pd.DataFrame:
    """Every (current i, earlier j) pair of the same entity, j strictly before i in event order."""
    cols = ["txid", key, "s", "m", "h", "d", "amount"]
    left = h[cols + (["terminal_id"] if key != "terminal_id" else [])]
    p = left.merge(left, on=key, suffixes=("", "_j"))
    earlier = (p["s_j"] < p["s"]) | ((p["s_j"] == p["s"]) & (p["txid_j"] < p["txid"]))
    return p[earlier]


def _agg(p: pd.DataFrame, mask: pd.Series, col: str, how: str) -> pd.Series:
    return p[mask].groupby("txid")[col].agg(how)


def reference_features(history: pd.DataFrame, labels: pd.DataFrame | None = None) -> pd.DataFrame:
    """labels: columns transaction_id, arrival (epoch s), is_fraud (final per tx; one per tx)."""
    h = _prep(history)
    out = pd.DataFrame(index=h["txid"])
    amount = h.set_index("txid")["amount"]
    ts = h.set_index("txid")["s"]
    out["tx_amount"] = amount
    out["tx_during_weekend"] = (
        h.set_index("txid")["timestamp"].dt.day_of_week.ge(5).astype(float).to_numpy()
    )
    hour_of_day = (h.set_index("txid")["s"] % DAY) // HOUR
    out["tx_during_night"] = (hour_of_day <= 6).astype(float)

    c = _pairs(h, "customer_id")

    def csum(mask: pd.Series, col: str) -> pd.Series:
        return _agg(c, mask, col, "sum").reindex(out.index).fillna(0.0)

    def ccount(mask: pd.Series) -> pd.Series:
        return _agg(c, mask, "s_j", "count").reindex(out.index).fillna(0.0)

    windows = {
        "1day": c["h_j"] >= c["h"] - 23,
        "7day": c["d_j"] >= c["d"] - 6,
        "30day": c["d_j"] >= c["d"] - 29,
    }
    for name, mask in windows.items():
        n = ccount(mask) + 1
        out[f"customer_nb_tx_{name}"] = n
        out[f"customer_avg_amount_{name}"] = (csum(mask, "amount_j") + amount) / n

    t = _pairs(h, "terminal_id")
    lab = _labels(h, labels)
    for w in (1, 7, 30):
        delayed = (t["d_j"] <= t["d"] - DELAY) & (t["d_j"] >= t["d"] - DELAY - w + 1)
        n = _agg(t, delayed, "s_j", "count").reindex(out.index).fillna(0.0)
        frauds = _known_frauds(h, lab, "terminal_id", w)
        out[f"terminal_nb_tx_{w}day"] = n
        out[f"terminal_risk_{w}day"] = np.where(frauds > 0, frauds / np.maximum(n, frauds), 0.0)

    for name, minutes in (("10min", 10), ("1h", 60)):
        mask = c["m_j"] >= c["m"] - minutes + 1
        out[f"customer_count_{name}"] = ccount(mask) + 1
        out[f"customer_amount_{name}"] = csum(mask, "amount_j") + amount
    out["customer_amount_24h"] = csum(windows["1day"], "amount_j") + amount

    last = _agg(c, c["s_j"] == c["s_j"], "s_j", "max").reindex(out.index)
    out["customer_seconds_since_prev_tx"] = np.where(
        last.isna(), -1.0, np.maximum(0, ts - last.fillna(0))
    )
    for w in (7, 30):
        mask = c["d_j"] >= c["d"] - w + 1
        n, total = ccount(mask), csum(mask, "amount_j")
        known = (n > 0) & (total > 0)  # earlier $0 payments only: no mean to compare with
        out[f"customer_amount_ratio_{w}day"] = np.where(
            known, amount * n / total.where(known, 1), 1.0
        )

    recent = c[c["s_j"] > c["s"] - DAY]
    other = recent[recent["terminal_id_j"] != recent["terminal_id"]]
    out["customer_distinct_terminals_24h"] = (
        other.groupby("txid")["terminal_id_j"].nunique().reindex(out.index).fillna(0) + 1
    )
    same = c[(c["terminal_id_j"] == c["terminal_id"]) & (c["s_j"] >= c["s"] - HORIZON)]
    seen = same.groupby("txid").size().reindex(out.index).fillna(0)
    out["customer_new_terminal"] = (seen == 0).astype(float)
    out["customer_frauds_known_30day"] = _known_frauds(h, lab, "customer_id", 30)
    out["tx_hour"] = hour_of_day.astype(float)
    for col in ("mcc", "country", "channel"):
        values = h[col] if col in h.columns else pd.Series(pd.NA, index=h.index)
        out[col] = values.astype(object).where(values.notna(), "UNK").to_numpy()
    return out.reset_index(names="transaction_id")


def _labels(h: pd.DataFrame, labels: pd.DataFrame | None) -> pd.DataFrame:
    if labels is None or labels.empty:
        return pd.DataFrame(columns=["txid", "arrival", "is_fraud", "customer_id", "terminal_id"])
    lab = labels.rename(columns={"transaction_id": "txid"}).copy()
    lab["txid"] = lab["txid"].astype(str)
    return lab.merge(h[["txid", "customer_id", "terminal_id"]], on="txid")


def _known_frauds(h: pd.DataFrame, lab: pd.DataFrame, key: str, days: int) -> pd.Series:
    """Fraud labels of the entity that ARRIVED in the window and strictly before the payment."""
    frauds = lab[lab["is_fraud"] == 1][[key, "arrival"]]
    p = h[["txid", key, "s", "d"]].merge(frauds, on=key)
    arrival_day = p["arrival"] // DAY
    known = (p["arrival"] < p["s"]) & (arrival_day >= p["d"] - days + 1)
    return p[known].groupby("txid").size().reindex(h["txid"]).fillna(0).astype(float).to_numpy()
