"""Feature set v1: every feature once, as a pure function ``f(tx, entity_state, as_of)``.

``entity_state`` is the customer's or the terminal's profile as it was just BEFORE ``tx`` (the
transaction itself is added by the feature where its definition says "including the current
transaction"). ``as_of`` is the evaluation time in epoch seconds, the transaction's own timestamp
in scoring and in datasets. No clock and no I/O here.

Each function is also run on whole columns at once (``tx`` a column of transactions, ``state``
every one's entity state before it, ``as_of`` an array: see fraudops.features.columnar), so the
formulas use only arithmetic and the helpers of fraudops.features.ops, never ``if``/``max``/
``float`` on a value that comes from ``tx``, ``state`` or ``as_of``.

Windows are on UTC buckets (see fraudops.profile_store.layout): an "N-bucket window" is the bucket
holding ``as_of`` and the N-1 before it, so a 1-day window covers between 23 and 24 hours.
Terminal counts are taken over a window that ends LABEL_DELAY_DAYS before ``as_of``, and terminal
risk divides the fraud labels that ARRIVED in the last N days by that count: with labels arriving
exactly LABEL_DELAY_DAYS after their transaction this is the Handbook's delayed terminal risk, and
with real arrival times it uses exactly what was known.
"""

from __future__ import annotations

from fraudops.features.contract import feature
from fraudops.features.ops import as_float, divide, flag, if_known, maximum, or_default, ratio_or
from fraudops.profile_store.layout import DAY, HOUR, LABEL_DELAY_DAYS, MINUTE, PAIR_HORIZON_S
from fraudops.profile_store.state import EntityState
from fraudops.schema import Txn

UNKNOWN = "UNK"


def _hour_of_day(ts: int) -> int:
    return (ts % DAY) // HOUR


def _count_with_current(state: EntityState, series: str, as_of: int, width: int, n: int) -> int:
    bucket = as_of // width
    return state.window_sum(series, bucket - n + 1, bucket) + 1


def _avg_with_current(
    tx: Txn, state: EntityState, as_of: int, gran: str, width: int, n: int
) -> float:
    bucket = as_of // width
    count = state.window_sum(gran + "n", bucket - n + 1, bucket) + 1
    total = state.window_sum(gran + "a", bucket - n + 1, bucket) + tx.amount_milli
    return divide(total, count) / 1000.0


def _sum_with_current(
    tx: Txn, state: EntityState, as_of: int, gran: str, width: int, n: int
) -> float:
    bucket = as_of // width
    return (state.window_sum(gran + "a", bucket - n + 1, bucket) + tx.amount_milli) / 1000.0


def _ratio_to_prior_avg(tx: Txn, state: EntityState, as_of: int, days: int) -> float:
    day = as_of // DAY
    count = state.window_sum("dn", day - days + 1, day)
    total = state.window_sum("da", day - days + 1, day)
    return ratio_or(tx.amount_milli * count, total, (count != 0) & (total > 0), 1.0)


def _terminal_delayed_count(state: EntityState, as_of: int, days: int) -> int:
    last = as_of // DAY - LABEL_DELAY_DAYS
    return state.window_sum("dn", last - days + 1, last)


def _frauds_arrived(state: EntityState, as_of: int, days: int) -> int:
    day = as_of // DAY
    return maximum(0, state.window_sum("df", day - days + 1, day))


def _terminal_risk(state: EntityState, as_of: int, days: int) -> float:
    frauds = _frauds_arrived(state, as_of, days)
    count = _terminal_delayed_count(state, as_of, days)
    return ratio_or(frauds, maximum(count, frauds), frauds != 0, 0.0)


# --- the transaction itself ----------------------------------------------------------------
@feature("tx_amount", "transaction", default="always present")
def tx_amount(tx: Txn, state: EntityState, as_of: int) -> float:
    """Amount in major units."""
    return tx.amount


@feature("tx_during_weekend", "transaction", default="always present")
def tx_during_weekend(tx: Txn, state: EntityState, as_of: int) -> float:
    """1 if the transaction's UTC day is Saturday or Sunday, else 0."""
    return flag((tx.ts // DAY + 3) % 7 >= 5)  # 1970-01-01 was a Thursday


@feature("tx_during_night", "transaction", default="always present")
def tx_during_night(tx: Txn, state: EntityState, as_of: int) -> float:
    """1 if the UTC hour of the transaction is <= 6 (the Handbook's night), else 0."""
    return flag(_hour_of_day(tx.ts) <= 6)


# --- customer: the Handbook set ------------------------------------------------------------
def _customer_window_features(days: int, gran: str, width: int, buckets: int, label: str) -> None:
    @feature(f"customer_nb_tx_{days}day", "customer", window=label, default="1 (this tx)")
    def nb_tx(tx: Txn, state: EntityState, as_of: int) -> float:
        """Customer's transactions in the window, including this one."""
        return as_float(_count_with_current(state, gran + "n", as_of, width, buckets))

    @feature(f"customer_avg_amount_{days}day", "customer", window=label, default="tx_amount")
    def avg_amount(tx: Txn, state: EntityState, as_of: int) -> float:
        """Customer's mean amount in the window, including this transaction."""
        return _avg_with_current(tx, state, as_of, gran, width, buckets)


_customer_window_features(1, "h", HOUR, 24, "24 hour buckets")
_customer_window_features(7, "d", DAY, 7, "7 day buckets")
_customer_window_features(30, "d", DAY, 30, "30 day buckets")


# --- terminal: the Handbook set (delayed window, labels as known) ---------------------------
def _terminal_window_features(days: int) -> None:
    window = f"{days} day buckets ending {LABEL_DELAY_DAYS} days before"

    @feature(f"terminal_nb_tx_{days}day", "terminal", window=window, default="0")
    def nb_tx(tx: Txn, state: EntityState, as_of: int) -> float:
        """Terminal's transactions in the delayed window (labels for them are normally known)."""
        return as_float(_terminal_delayed_count(state, as_of, days))

    @feature(f"terminal_risk_{days}day", "terminal", window=f"{days} day buckets", default="0")
    def risk(tx: Txn, state: EntityState, as_of: int) -> float:
        """Fraud labels that arrived in the last N days / max(delayed tx count, those labels)."""
        return _terminal_risk(state, as_of, days)


for _days in (1, 7, 30):
    _terminal_window_features(_days)


# --- velocity and behaviour ------------------------------------------------------------------
def _velocity_features(label: str, minutes: int) -> None:
    @feature(f"customer_count_{label}", "customer", window=f"{minutes} minute buckets", default="1")
    def count(tx: Txn, state: EntityState, as_of: int) -> float:
        """Customer's transactions in the window, including this one (card-testing bursts)."""
        return as_float(_count_with_current(state, "mn", as_of, MINUTE, minutes))

    @feature(
        f"customer_amount_{label}", "customer", window=f"{minutes} minute buckets", default="amount"
    )
    def amount(tx: Txn, state: EntityState, as_of: int) -> float:
        """Customer's amount sum in the window, including this transaction."""
        return _sum_with_current(tx, state, as_of, "m", MINUTE, minutes)


_velocity_features("10min", 10)
_velocity_features("1h", 60)


@feature("customer_amount_24h", "customer", window="24 hour buckets", default="tx_amount")
def customer_amount_24h(tx: Txn, state: EntityState, as_of: int) -> float:
    """Customer's amount sum in 24 h incl. this tx (the 24 h count is customer_nb_tx_1day)."""
    return _sum_with_current(tx, state, as_of, "h", HOUR, 24)


@feature("customer_seconds_since_prev_tx", "customer", default="-1 (no earlier transaction)")
def customer_seconds_since_prev_tx(tx: Txn, state: EntityState, as_of: int) -> float:
    """Seconds since the customer's latest earlier transaction (0 if that one is later)."""
    return if_known(state.last_ts, lambda last: as_float(maximum(0, as_of - last)), -1.0)


@feature("customer_amount_ratio_7day", "customer", window="7 day buckets", default="1")
def customer_amount_ratio_7day(tx: Txn, state: EntityState, as_of: int) -> float:
    """Amount / the customer's mean amount over the window BEFORE this transaction."""
    return _ratio_to_prior_avg(tx, state, as_of, 7)


@feature("customer_amount_ratio_30day", "customer", window="30 day buckets", default="1")
def customer_amount_ratio_30day(tx: Txn, state: EntityState, as_of: int) -> float:
    """Amount / the customer's mean amount over the window BEFORE this transaction."""
    return _ratio_to_prior_avg(tx, state, as_of, 30)


@feature("customer_distinct_terminals_24h", "customer", window="exact 24 h", default="1")
def customer_distinct_terminals_24h(tx: Txn, state: EntityState, as_of: int) -> float:
    """Distinct terminals the customer used in (as_of - 24 h, as_of], this one included."""
    return as_float(state.terminals_since(as_of - DAY, tx.terminal_id))


@feature("customer_new_terminal", "customer", window="exact 90 days", default="1")
def customer_new_terminal(tx: Txn, state: EntityState, as_of: int) -> float:
    """1 if the customer has no transaction at this terminal in the last 90 days, else 0."""
    seen = state.pair_ts(tx.terminal_id)
    return if_known(seen, lambda ts: flag(ts < as_of - PAIR_HORIZON_S), 1.0)


@feature("customer_frauds_known_30day", "customer", window="30 day buckets", default="0")
def customer_frauds_known_30day(tx: Txn, state: EntityState, as_of: int) -> float:
    """Fraud labels on this customer's transactions that ARRIVED in the window (net, >= 0)."""
    return as_float(_frauds_arrived(state, as_of, 30))


@feature("tx_hour", "transaction", default="always present")
def tx_hour(tx: Txn, state: EntityState, as_of: int) -> float:
    """UTC hour of day, 0-23."""
    return as_float(_hour_of_day(tx.ts))


# --- categorical pass-through (CatBoost uses them natively) -----------------------------------
@feature("mcc", "transaction", kind="categorical", default="UNK")
def mcc(tx: Txn, state: EntityState, as_of: int) -> str:
    """Merchant category code (ISO 18245) as given."""
    return or_default(tx.mcc, UNKNOWN)


@feature("country", "transaction", kind="categorical", default="UNK")
def country(tx: Txn, state: EntityState, as_of: int) -> str:
    """ISO 3166 alpha-2 country of the terminal as given."""
    return or_default(tx.country, UNKNOWN)


@feature("channel", "transaction", kind="categorical", default="UNK")
def channel(tx: Txn, state: EntityState, as_of: int) -> str:
    """card_present, ecommerce, atm, ... as given."""
    return or_default(tx.channel, UNKNOWN)
