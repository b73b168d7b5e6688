"""Schema and readers: both column conventions, both formats, errors naming row and field."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pandas as pd
import pytest
from pydantic import ValidationError

from fraudops.commands.simulate import write_frame
from fraudops.readers import HistoryValidationError, iter_txns, read_history, validate_history
from fraudops.schema import Transaction, Txn
from fraudops.simulator import SimulationConfig, simulate, to_handbook

CFG = SimulationConfig(customers=50, terminals=100, days=5, seed=1)


@pytest.fixture(scope="module")
def canonical() -> pd.DataFrame:
    return simulate(CFG)


@pytest.mark.parametrize("suffix", [".parquet", ".csv", ".csv.gz"])
@pytest.mark.parametrize("fmt", ["canonical", "handbook"])
def test_round_trip_every_format(
    tmp_path: Path, canonical: pd.DataFrame, suffix: str, fmt: str
) -> None:
    df = canonical if fmt == "canonical" else to_handbook(canonical, CFG.start_date)
    path = tmp_path / f"h{suffix}"
    write_frame(df, path)
    back = read_history(path)
    assert len(back) == len(canonical)
    assert back["transaction_id"].tolist() == canonical["transaction_id"].tolist()
    assert (back["timestamp"] == canonical["timestamp"]).all()
    assert back["amount"].tolist() == canonical["amount"].tolist()
    assert back["is_fraud"].tolist() == canonical["is_fraud"].tolist()
    if fmt == "canonical":
        assert back["mcc"].tolist() == canonical["mcc"].tolist()
    else:
        assert back["mcc"].isna().all()


def test_malformed_rows_are_named(tmp_path: Path, canonical: pd.DataFrame) -> None:
    df = canonical.head(6).copy()
    df["timestamp"] = df["timestamp"].dt.strftime("%Y-%m-%dT%H:%M:%SZ")
    df.loc[1, "amount"] = -5
    df.loc[2, "timestamp"] = "yesterday"
    df.loc[3, "customer_id"] = ""
    df.loc[4, "currency"] = "euro"
    df.loc[5, "transaction_id"] = df.loc[0, "transaction_id"]
    path = tmp_path / "bad.csv"
    df.to_csv(path, index=False)
    with pytest.raises(HistoryValidationError) as info:
        read_history(path)
    text = str(info.value)
    assert "row 2, field 'amount': must be >= 0 (got '-5" in text
    assert "row 3, field 'timestamp'" in text and "'yesterday'" in text
    assert "row 4, field 'customer_id': missing" in text
    assert "row 5, field 'currency'" in text
    assert "row 6, field 'transaction_id': duplicate" in text
    assert [e.row for e in info.value.errors] == [2, 3, 4, 5, 6]


def test_split_mode_keeps_good_rows_and_reasons(canonical: pd.DataFrame) -> None:
    df = canonical.head(10).copy()
    df.loc[3, "amount"] = float("nan")
    df.loc[5, "currency"] = "XYZ"
    df.loc[6, "country"] = "xk"  # Kosovo: used by the card networks, kept
    df.loc[7, "terminal_id"] = "{t7}"
    good, bad = validate_history(df, on_error="split")
    assert len(good) == 7 and bad["row"].tolist() == [4, 6, 8]
    assert bad["error"].tolist() == [
        "amount: not a number",
        "currency: not an ISO 4217 code",
        "terminal_id: contains whitespace, control characters or braces",
    ]
    assert good["country"].iat[4] == "XK"


def test_missing_column_is_named(canonical: pd.DataFrame) -> None:
    with pytest.raises(HistoryValidationError, match="field 'terminal_id': column missing"):
        validate_history(canonical.drop(columns=["terminal_id"]))


def test_unknown_extension(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="unknown history format"):
        read_history(tmp_path / "h.json")


def test_transaction_model_validation() -> None:
    tx = Transaction.model_validate(
        {
            "transaction_id": "t1",
            "timestamp": "2018-04-01T10:00:00+02:00",
            "customer_id": "c1",
            "terminal_id": "m1",
            "amount": "12.50",
            "currency": "EUR",
            "channel": "ecommerce",
        }
    )
    assert tx.to_txn() == Txn("t1", 1522569600, "c1", "m1", 12.5, "EUR", None, None, "ecommerce")
    bad = [
        ({"amount": -1}, "amount"),
        ({"amount": "-0.01"}, "amount"),
        ({"amount": "1.2345"}, "amount"),
        ({"timestamp": "2018-04-01T10:00:00"}, "timestamp"),
        ({"timestamp": "not a time"}, "timestamp"),
        ({"currency": "eur"}, "currency"),
        ({"currency": "XYZ"}, "currency"),  # the right shape, but no ISO 4217 code
        ({"country": "ZZ"}, "country"),
        ({"customer_id": ""}, "customer_id"),
        ({"customer_id": "c1}:x:t1"}, "customer_id"),
        ({"surprise": 1}, "surprise"),
    ]
    base = {
        "transaction_id": "t1",
        "timestamp": "2018-04-01T10:00:00Z",
        "customer_id": "c1",
        "terminal_id": "m1",
        "amount": 1,
    }
    for change, field in bad:
        with pytest.raises(ValidationError) as info:
            Transaction.model_validate({**base, **change})
        assert info.value.errors()[0]["loc"][0] == field


def test_zero_amount_is_a_payment_negative_is_refused() -> None:
    base = {
        "transaction_id": "t1",
        "timestamp": "2018-04-01T10:00:00Z",
        "customer_id": "c1",
        "terminal_id": "m1",
    }
    for zero in (0, 0.0, "0", "0.00", "000.000"):
        tx = Transaction.model_validate({**base, "amount": zero})
        assert tx.amount == 0 and tx.to_txn().amount == 0.0 and tx.to_txn().amount_milli == 0
    assert Txn("t", 0, "c", "m", 0.0).amount_milli == 0
    assert Txn("t", 0, "c", "m", 0.001).amount_milli == 1
    for bad in (-0.001, float("nan"), float("inf")):
        with pytest.raises(ValueError, match="amount"):
            Txn("t", 0, "c", "m", bad)


def test_readers_take_zero_amounts_and_refuse_negative(tmp_path: Path) -> None:
    path = tmp_path / "h.csv"
    path.write_text(
        "TRANSACTION_ID,TX_DATETIME,CUSTOMER_ID,TERMINAL_ID,TX_AMOUNT,TX_FRAUD\n"
        "0,2018-04-01 00:00:31,596,3156,0.00,0\n"
        "1,2018-04-01 00:02:10,4961,3412,81.51,0\n"
        "2,2018-04-01 00:07:56,2,1365,0,0\n"
    )
    df = read_history(path)
    assert df["amount"].tolist() == [0.0, 81.51, 0.0]
    assert [t.amount_milli for t in iter_txns(df)] == [0, 81510, 0]
    path.write_text(path.read_text() + "3,2018-04-01 00:09:00,2,1365,-0.01,0\n")
    with pytest.raises(HistoryValidationError, match="row 4, field 'amount': must be >= 0"):
        read_history(path)


def test_iter_txns_floors_to_seconds(canonical: pd.DataFrame) -> None:
    df, _ = validate_history(canonical.head(3))
    df.loc[0, "timestamp"] = pd.Timestamp("2018-04-01T00:00:01.900Z")
    first = next(iter_txns(df))
    assert first.ts == int(pd.Timestamp("2018-04-01T00:00:01Z").timestamp())
    assert date.fromtimestamp(first.ts) >= CFG.start_date
