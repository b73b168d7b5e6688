"""Reading transaction histories (Parquet or CSV, canonical or Handbook columns), validated.

Validation is vectorised (millions of rows), and names the row and the field of every problem so a
bad file is fixed, not guessed at. ``on_error="split"`` returns the bad rows with their reasons
instead of raising, for pipelines that route them to a dead-letter output.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd

from fraudops.iso_codes import COUNTRIES, CURRENCIES
from fraudops.schema import (
    CANONICAL_COLUMNS,
    CHANNEL_RE,
    COUNTRY_RE,
    CURRENCY_RE,
    HANDBOOK_TO_CANONICAL,
    ID_FORBIDDEN,
    ID_MAX_LEN,
    LABEL_COLUMNS,
    MCC_RE,
    OPTIONAL_COLUMNS,
    Txn,
)

REQUIRED = ("transaction_id", "timestamp", "customer_id", "terminal_id", "amount")
ISO_CODES = {"currency": ("ISO 4217", CURRENCIES), "country": ("ISO 3166-1", COUNTRIES)}
PATTERNS = {"currency": CURRENCY_RE, "country": COUNTRY_RE, "mcc": MCC_RE, "channel": CHANNEL_RE}
MAX_REPORTED = 20


@dataclass(frozen=True)
class RowError:
    row: int  # 1-based data row (CSV: the header is line 1, so this row is line row + 1)
    field: str
    message: str

    def __str__(self) -> str:
        return f"row {self.row}, field {self.field!r}: {self.message}"


class HistoryValidationError(ValueError):
    def __init__(self, source: str, errors: list[RowError], total: int) -> None:
        self.errors = errors
        self.total = total
        shown = "\n  ".join(str(e) for e in errors[:MAX_REPORTED])
        more = f"\n  ... and {total - MAX_REPORTED} more" if total > MAX_REPORTED else ""
        super().__init__(f"{source}: {total} invalid value(s)\n  {shown}{more}")


def load_frame(path: Path) -> pd.DataFrame:
    """A history or label file as it is (Parquet; CSV as text), not validated yet."""
    name = path.name.lower()
    if name.endswith((".parquet", ".pq")):
        return pd.read_parquet(path)
    if name.endswith((".csv", ".csv.gz")):
        return pd.read_csv(path, dtype=str, keep_default_na=False, na_values=[""])
    raise ValueError(f"{path}: unknown history format (expected .parquet, .pq, .csv, .csv.gz)")


def normalise_columns(df: pd.DataFrame) -> pd.DataFrame:
    """Handbook names -> canonical names; other columns kept as they are."""
    if "TX_DATETIME" in df.columns or "TX_AMOUNT" in df.columns:
        df = df.rename(columns=HANDBOOK_TO_CANONICAL)
    return df


def _as_id(series: pd.Series) -> pd.Series:
    if pd.api.types.is_float_dtype(series):
        whole = series.notna() & (series == np.floor(series))
        series = series.astype(object).where(~whole, series.astype("Int64").astype(str))
    return series.astype("string").str.strip()


def _check(df: pd.DataFrame) -> tuple[pd.DataFrame, list[tuple[np.ndarray, str, str]]]:
    out = pd.DataFrame(index=df.index)
    problems: list[tuple[np.ndarray, str, str]] = []

    def flag(mask: pd.Series | np.ndarray, field: str, message: str) -> None:
        arr = np.asarray(mask, dtype=bool)
        if arr.any():
            problems.append((arr, field, message))

    for col in ("transaction_id", "customer_id", "terminal_id"):
        ids = _as_id(df[col])
        flag(ids.isna() | (ids == ""), col, "missing")
        flag(ids.str.len().fillna(0) > ID_MAX_LEN, col, f"longer than {ID_MAX_LEN} characters")
        flag(
            ids.str.contains(f"[{ID_FORBIDDEN}]", regex=True).fillna(False),
            col,
            "contains whitespace, control characters or braces",
        )
        out[col] = ids

    raw_ts = df["timestamp"]
    if pd.api.types.is_datetime64_any_dtype(raw_ts):
        ts = raw_ts.dt.tz_localize("UTC") if raw_ts.dt.tz is None else raw_ts.dt.tz_convert("UTC")
    else:
        ts = pd.to_datetime(raw_ts, utc=True, errors="coerce", format="mixed")
    flag(raw_ts.isna(), "timestamp", "missing")
    flag(ts.isna() & raw_ts.notna(), "timestamp", "not an RFC 3339 / ISO 8601 timestamp")
    out["timestamp"] = ts

    amount = pd.to_numeric(df["amount"], errors="coerce")
    flag(amount.isna(), "amount", "not a number")
    flag(amount.notna() & ~(amount >= 0), "amount", "must be >= 0")
    flag(amount.notna() & ~np.isfinite(amount.fillna(0)), "amount", "must be finite")
    out["amount"] = amount.astype("float64")

    for col in OPTIONAL_COLUMNS:
        if col not in df.columns:
            out[col] = pd.Series(pd.NA, index=df.index, dtype="string")
            continue
        values = df[col].astype("string").str.strip()
        values = values.mask(values == "")
        if col in ("currency", "country"):
            values = values.str.upper()
        ok = values.isna() | values.str.fullmatch(PATTERNS[col].pattern).fillna(False)
        flag(~ok, col, f"does not match {PATTERNS[col].pattern}")
        if col in ISO_CODES:
            what, codes = ISO_CODES[col]
            flag(
                ok & values.notna() & ~values.isin(codes).fillna(False), col, f"not an {what} code"
            )
        out[col] = values

    for col in LABEL_COLUMNS:
        if col in df.columns:
            values = pd.to_numeric(df[col], errors="coerce")
            if col == "is_fraud":
                flag(~values.isin([0, 1]), col, "must be 0 or 1")
            else:
                flag(values.isna(), col, "not an integer")
            out[col] = values.fillna(0).astype("int8")

    dup = out["transaction_id"].duplicated(keep="first") & out["transaction_id"].notna()
    flag(dup, "transaction_id", "duplicate of an earlier row")
    return out, problems


def _with_value(message: str, raw: pd.Series | None, i: int) -> str:
    if raw is None or message == "missing":
        return message
    value = raw.iloc[i]
    return f"{message} (got {str(value)[:40]!r})"


def validate_history(
    df: pd.DataFrame, source: str = "history", on_error: Literal["raise", "split"] = "raise"
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Canonical, typed frame of the valid rows, and a frame of the invalid rows with reasons."""
    df = normalise_columns(df.reset_index(drop=True))
    missing = [c for c in REQUIRED if c not in df.columns]
    if missing:
        raise HistoryValidationError(
            source, [RowError(0, c, "column missing") for c in missing], len(missing)
        )
    out, problems = _check(df)
    bad = np.zeros(len(df), dtype=bool)
    reasons = np.full(len(df), "", dtype=object)
    errors: list[RowError] = []
    for mask, field, message in problems:
        bad |= mask
        idx = np.flatnonzero(mask)
        reasons[idx] = reasons[idx] + f"{field}: {message}; "
        raw = df[field] if field in df.columns else None
        errors.extend(
            RowError(int(i) + 1, field, _with_value(message, raw, int(i)))
            for i in idx[:MAX_REPORTED]
        )
    errors.sort(key=lambda e: e.row)
    if bad.any() and on_error == "raise":
        total = sum(int(m.sum()) for m, _, _ in problems)
        raise HistoryValidationError(source, errors, total)
    dead = df.loc[bad].copy()
    dead.insert(0, "row", np.flatnonzero(bad) + 1)
    dead["error"] = [r.rstrip("; ") for r in reasons[bad]]
    columns = [c for c in (*CANONICAL_COLUMNS, *LABEL_COLUMNS) if c in out.columns]
    good = out.loc[~bad, columns].reset_index(drop=True)
    return good, dead.reset_index(drop=True)


def read_history(path: str | Path, on_error: Literal["raise", "split"] = "raise") -> pd.DataFrame:
    """Read and validate a history file; raises HistoryValidationError naming rows and fields."""
    p = Path(path)
    good, _ = validate_history(load_frame(p), str(p), on_error)
    return good


def epoch_seconds(ts: pd.Series) -> np.ndarray:
    """UTC timestamps -> whole epoch seconds (floor), the unit of every feature window."""
    delta = ts - pd.Timestamp(0, tz="UTC")
    return np.asarray(delta // pd.Timedelta(seconds=1), dtype=np.int64)


def _column_list(df: pd.DataFrame, col: str) -> list[Any]:
    if col not in df.columns:
        return [None] * len(df)
    values = df[col]
    return [None if v is pd.NA or v != v else v for v in values.tolist()]  # NA/NaN -> None


def iter_txns(df: pd.DataFrame) -> Iterator[Txn]:
    """Validated canonical frame -> Txn objects (fast path: no per-row validation again).

    A frame may carry ``ts`` (epoch seconds) instead of ``timestamp``.
    """
    ts = df["ts"].tolist() if "ts" in df.columns else epoch_seconds(df["timestamp"]).tolist()
    ids = df["transaction_id"].tolist()
    customers = df["customer_id"].tolist()
    terminals = df["terminal_id"].tolist()
    amounts = df["amount"].astype("float64").tolist()
    currency, mcc, country, channel = (_column_list(df, c) for c in OPTIONAL_COLUMNS)
    for i in range(len(ids)):
        yield Txn(
            ids[i],
            ts[i],
            customers[i],
            terminals[i],
            amounts[i],
            currency[i],
            mcc[i],
            country[i],
            channel[i],
        )


LABEL_VALUES = {"fraud": 1, "legit": 0, "1": 1, "0": 0}


def validate_labels(
    df: pd.DataFrame, source: str = "labels", on_error: Literal["raise", "split"] = "raise"
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Label events: transaction_id, is_fraud (from ``label`` fraud|legit or 0/1), arrived_at.

    A label file is a history of label events (one transaction may be relabelled); the latest
    arrival wins where the features and the training target need one value. Returns the valid
    events and the invalid rows with their reasons (``on_error="split"``).
    """
    df = df.reset_index(drop=True)
    label_col = "label" if "label" in df.columns else "is_fraud"
    missing = [c for c in ("transaction_id", label_col, "arrived_at") if c not in df.columns]
    if missing:
        raise HistoryValidationError(
            source, [RowError(0, c, "column missing") for c in missing], len(missing)
        )
    ids = _as_id(df["transaction_id"])
    values = df[label_col].astype("string").str.strip().str.lower().map(LABEL_VALUES)
    arrived = pd.to_datetime(df["arrived_at"], utc=True, errors="coerce", format="mixed")
    bad = np.zeros(len(df), dtype=bool)
    reasons = np.full(len(df), "", dtype=object)
    errors: list[RowError] = []
    for mask, field, message in (
        (ids.isna() | (ids == ""), "transaction_id", "missing"),
        (values.isna(), label_col, "must be fraud|legit or 1|0"),
        (arrived.isna(), "arrived_at", "not an RFC 3339 / ISO 8601 timestamp"),
    ):
        idx = np.flatnonzero(np.asarray(mask, dtype=bool))
        bad[idx] = True
        reasons[idx] = reasons[idx] + f"{field}: {message}; "
        errors.extend(
            RowError(int(i) + 1, field, _with_value(message, df[field], int(i)))
            for i in idx[:MAX_REPORTED]
        )
    if bad.any() and on_error == "raise":
        errors.sort(key=lambda e: e.row)
        raise HistoryValidationError(source, errors, int(bad.sum()))
    out = pd.DataFrame(
        {
            "transaction_id": ids,
            "is_fraud": values.fillna(0).astype("int8"),
            "arrived_at": arrived,
        }
    )
    if "source" in df.columns:
        out["source"] = df["source"].astype("string")
    out = out.loc[~bad].reset_index(drop=True)
    out["arrival_ts"] = epoch_seconds(out["arrived_at"])
    dead = df.loc[bad].copy()
    dead.insert(0, "row", np.flatnonzero(bad) + 1)
    dead["error"] = [r.rstrip("; ") for r in reasons[bad]]
    return out, dead.reset_index(drop=True)


def read_labels(path: str | Path) -> pd.DataFrame:
    p = Path(path)
    good, _ = validate_labels(load_frame(p), str(p))
    return good
