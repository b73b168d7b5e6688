"""Transaction simulator following the Fraud Detection Handbook's published generator, vectorised.

Handbook facts reproduced: customers and terminals uniform on a 100x100 grid; per customer a mean
amount ~ U(5, 100) with std = mean / 2 and a mean of U(0, 4) transactions a day; a day's count is
Poisson; time of day ~ N(43200 s, 20000 s), transactions falling outside the day dropped; amount ~
N(mean, std), a negative one redrawn from U(0, 2 * mean), 2 decimals (so a few are 0.00, as in
the Handbook's published data: 42 of its 1.75 M); terminal uniform among those
within radius 5 of the customer. Fraud: (1) amount > 220; (2) each day 2 terminals compromised for
28 days; (3) each day 3 customers compromised for 14 days, 1/3 of their transactions x5 and fraud.

Canonical output adds mcc, country, channel and currency per terminal, and scenario (4): card
testing — a stolen card makes a burst of small foreign e-commerce payments within minutes (about
PROBE_ZERO_SHARE of them $0 account-verification authorisations), then a few larger ones
("cash-out") within hours. The Handbook format leaves the extras out, so published
numbers stay comparable.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

import numpy as np
import pandas as pd

GRID = 100.0
DAY_S = 86400
PROBE_ZERO_SHARE = 0.3  # card testers' probes that are $0 verification authorisations

HOME_COUNTRY = "FR"
FOREIGN_COUNTRIES = np.array(["DE", "NL", "IE", "GB", "ES", "IT", "US", "LT", "CN", "NG"])
FOREIGN_WEIGHTS = np.array([0.18, 0.14, 0.12, 0.12, 0.1, 0.1, 0.1, 0.06, 0.05, 0.03])
CHANNELS = np.array(["card_present", "ecommerce", "atm"])
CHANNEL_WEIGHTS = np.array([0.7, 0.25, 0.05])
MCC_BY_CHANNEL = {
    "card_present": (
        np.array(["5411", "5812", "5541", "5912", "5651", "5732", "5814", "5999"]),
        np.array([0.3, 0.18, 0.12, 0.08, 0.1, 0.06, 0.1, 0.06]),
    ),
    "ecommerce": (
        np.array(["5311", "5818", "4722", "5999", "5732", "5967", "4121"]),
        np.array([0.3, 0.2, 0.12, 0.15, 0.1, 0.05, 0.08]),
    ),
    "atm": (np.array(["6011"]), np.array([1.0])),
}


@dataclass(frozen=True)
class SimulationConfig:
    customers: int = 5000
    terminals: int = 10000
    days: int = 183
    start_date: date = date(2018, 4, 1)
    seed: int = 0
    radius: float = 5.0
    extras: bool = True  # canonical fields and the card-testing scenario
    card_testing_per_day: float = 1.0  # per 5,000 customers


def _available_terminals(
    cust_xy: np.ndarray, term_xy: np.ndarray, radius: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """CSR lists of terminals within ``radius`` of each customer (chunked distance matrix)."""
    r2 = radius * radius
    indices: list[np.ndarray] = []
    lengths = np.zeros(len(cust_xy), dtype=np.int64)
    for lo in range(0, len(cust_xy), 512):
        chunk = cust_xy[lo : lo + 512]
        d2 = ((chunk[:, None, :] - term_xy[None, :, :]) ** 2).sum(axis=2)
        rows, cols = np.nonzero(d2 < r2)
        indices.append(cols)
        lengths[lo : lo + len(chunk)] = np.bincount(rows, minlength=len(chunk))
    offsets = np.concatenate([[0], np.cumsum(lengths)[:-1]])
    return np.concatenate(indices) if indices else np.zeros(0, np.int64), offsets, lengths


def _base_transactions(cfg: SimulationConfig, rng: np.random.Generator) -> dict[str, np.ndarray]:
    n_c, n_t, n_d = cfg.customers, cfg.terminals, cfg.days
    cust_xy = rng.uniform(0, GRID, size=(n_c, 2))
    mean_amount = rng.uniform(5, 100, size=n_c)
    std_amount = mean_amount / 2
    mean_nb_tx = rng.uniform(0, 4, size=n_c)
    term_xy = rng.uniform(0, GRID, size=(n_t, 2))
    avail, offsets, lengths = _available_terminals(cust_xy, term_xy, cfg.radius)

    counts = rng.poisson(np.repeat(mean_nb_tx, n_d)).astype(np.int64)  # (customer, day) flat
    cell = np.repeat(np.arange(n_c * n_d), counts)
    cust, day = cell // n_d, cell % n_d
    n = len(cell)
    secs = rng.normal(DAY_S / 2, 20000, size=n).astype(np.int64)  # int() truncates, as there
    amount = rng.normal(mean_amount[cust], std_amount[cust])
    neg = amount < 0
    amount[neg] = rng.uniform(0, 2 * mean_amount[cust[neg]])
    amount = np.round(amount, 2)
    pick = rng.random(n)
    keep = (secs > 0) & (secs < DAY_S) & (lengths[cust] > 0)
    cust, day, secs, amount, pick = cust[keep], day[keep], secs[keep], amount[keep], pick[keep]
    term = avail[offsets[cust] + (pick * lengths[cust]).astype(np.int64)]
    return {"cust": cust, "term": term, "day": day, "secs": secs, "amount": amount}


def _handbook_frauds(
    cfg: SimulationConfig, rng: np.random.Generator, tx: dict[str, np.ndarray]
) -> tuple[np.ndarray, np.ndarray]:
    cust, term, day, amount = tx["cust"], tx["term"], tx["day"], tx["amount"]
    fraud = np.zeros(len(cust), dtype=np.int8)
    scenario = np.zeros(len(cust), dtype=np.int8)
    # (1) large amounts
    s1 = amount > 220
    fraud[s1], scenario[s1] = 1, 1
    # (2) 2 terminals a day, every transaction there for the next 28 days
    span = cfg.days + 28
    comp_t = np.stack([rng.choice(cfg.terminals, 2, replace=False) for _ in range(cfg.days)])
    start = np.repeat(np.arange(cfg.days), 2)
    keys = (comp_t.ravel()[:, None] * span + start[:, None] + np.arange(28)[None, :]).ravel()
    s2 = np.isin(term * span + day, keys)
    fraud[s2], scenario[s2] = 1, 2
    # (3) 3 customers a day: for 14 days a third of their transactions x5
    order = np.argsort(cust, kind="stable")
    bounds = np.searchsorted(cust[order], np.arange(cfg.customers + 1))
    for d in range(cfg.days):
        for c in rng.choice(cfg.customers, 3, replace=False):
            idx = order[bounds[c] : bounds[c + 1]]
            idx = idx[(day[idx] >= d) & (day[idx] < d + 14)]
            chosen = rng.choice(idx, len(idx) // 3, replace=False)
            amount[chosen] = np.round(amount[chosen] * 5, 2)
            fraud[chosen], scenario[chosen] = 1, 3
    return fraud, scenario


def _terminal_attributes(cfg: SimulationConfig, rng: np.random.Generator) -> dict[str, np.ndarray]:
    channel = rng.choice(CHANNELS, cfg.terminals, p=CHANNEL_WEIGHTS)
    mcc = np.empty(cfg.terminals, dtype=object)
    for ch, (codes, weights) in MCC_BY_CHANNEL.items():
        mask = channel == ch
        mcc[mask] = rng.choice(codes, int(mask.sum()), p=weights)
    foreign_p = np.where(channel == "ecommerce", 0.3, 0.03)
    foreign = rng.random(cfg.terminals) < foreign_p
    country = np.full(cfg.terminals, HOME_COUNTRY, dtype=object)
    country[foreign] = rng.choice(FOREIGN_COUNTRIES, int(foreign.sum()), p=FOREIGN_WEIGHTS)
    return {"channel": channel.astype(object), "mcc": mcc, "country": country}


def _card_testing(
    cfg: SimulationConfig, rng: np.random.Generator, attrs: dict[str, np.ndarray]
) -> dict[str, np.ndarray]:
    """Scenario 4: bursts of small foreign e-commerce payments, then a few larger ones."""
    targets = np.flatnonzero((attrs["channel"] == "ecommerce") & (attrs["country"] != HOME_COUNTRY))
    if len(targets) == 0:
        targets = np.arange(cfg.terminals)
    rate = cfg.card_testing_per_day * cfg.customers / 5000
    # its own stream: the $0 probes leave every other draw (and so the rest of the data) as it was
    probes = np.random.default_rng([cfg.seed, 4])
    rows: dict[str, list[np.ndarray]] = {k: [] for k in ("cust", "term", "day", "secs", "amount")}
    for d, n_cards in enumerate(rng.poisson(rate, cfg.days)):
        for c in rng.choice(cfg.customers, n_cards, replace=False):
            burst = int(rng.integers(5, 16))
            t0 = int(rng.integers(0, DAY_S - 7200))
            times = t0 + np.cumsum(rng.exponential(20, burst)).astype(np.int64)
            cash = int(rng.integers(1, 4))
            cash_times = times[-1] + np.sort(rng.integers(1800, 6 * 3600, cash))
            all_times = np.concatenate([times, cash_times])
            tester = rng.choice(targets)
            terms = np.concatenate([np.full(burst, tester), rng.choice(targets, cash)])
            small = np.round(rng.uniform(0.5, 3.0, burst), 2)
            small[probes.random(burst) < PROBE_ZERO_SHARE] = 0.0
            amounts = np.concatenate([small, np.round(rng.uniform(50, 215, cash), 2)])
            rows["cust"].append(np.full(len(all_times), c))
            rows["term"].append(terms)
            rows["day"].append(d + all_times // DAY_S)
            rows["secs"].append(all_times % DAY_S)
            rows["amount"].append(amounts)
    return {
        k: np.concatenate(v) if v else np.zeros(0, dtype=np.float64 if k == "amount" else np.int64)
        for k, v in rows.items()
    }


def simulate(cfg: SimulationConfig) -> pd.DataFrame:
    """A labelled canonical history, sorted by time, ``transaction_id`` in time order."""
    rng = np.random.default_rng(cfg.seed)
    tx = _base_transactions(cfg, rng)
    fraud, scenario = _handbook_frauds(cfg, rng, tx)
    cols = {**tx, "fraud": fraud, "scenario": scenario}
    attrs: dict[str, np.ndarray] | None = None
    if cfg.extras:
        attrs = _terminal_attributes(cfg, rng)
        ct = _card_testing(cfg, rng, attrs)
        ct["fraud"] = np.ones(len(ct["cust"]), dtype=np.int8)
        ct["scenario"] = np.full(len(ct["cust"]), 4, dtype=np.int8)
        cols = {k: np.concatenate([cols[k], ct[k]]) for k in cols}
    abs_s = cols["day"].astype(np.int64) * DAY_S + cols["secs"]
    order = np.argsort(abs_s, kind="stable")
    start = pd.Timestamp(cfg.start_date, tz="UTC")
    df = pd.DataFrame(
        {
            "transaction_id": np.arange(len(order)).astype(str),
            "timestamp": start + pd.to_timedelta(abs_s[order], unit="s"),
            "customer_id": cols["cust"][order].astype(str),
            "terminal_id": cols["term"][order].astype(str),
            "amount": cols["amount"][order],
        }
    )
    if attrs is not None:
        term = cols["term"][order]
        df["currency"] = "EUR"
        df["mcc"] = attrs["mcc"][term]
        df["country"] = attrs["country"][term]
        df["channel"] = attrs["channel"][term]
    df["is_fraud"] = cols["fraud"][order]
    df["fraud_scenario"] = cols["scenario"][order]
    return df


def to_handbook(df: pd.DataFrame, start_date: date) -> pd.DataFrame:
    """The Handbook's columns (integer ids, naive datetime, TX_TIME_SECONDS/TX_TIME_DAYS)."""
    ts = df["timestamp"].dt.tz_convert("UTC").dt.tz_localize(None)
    secs = (ts - pd.Timestamp(start_date)).dt.total_seconds().astype(np.int64)
    return pd.DataFrame(
        {
            "TRANSACTION_ID": df["transaction_id"].astype(np.int64),
            "TX_DATETIME": ts,
            "CUSTOMER_ID": df["customer_id"].astype(np.int64),
            "TERMINAL_ID": df["terminal_id"].astype(np.int64),
            "TX_AMOUNT": df["amount"],
            "TX_TIME_SECONDS": secs,
            "TX_TIME_DAYS": secs // DAY_S,
            "TX_FRAUD": df["is_fraud"].astype(np.int64),
            "TX_FRAUD_SCENARIO": df["fraud_scenario"].astype(np.int64),
        }
    )
