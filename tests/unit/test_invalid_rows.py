"""--on-invalid refuse|quarantine and --max-invalid-share: the core rule and the core commands."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from fraudops.invalid_rows import InvalidPolicy, InvalidRowsRefused, read_history_checked

HANDBOOK_CSV = (
    "TRANSACTION_ID,TX_DATETIME,CUSTOMER_ID,TERMINAL_ID,TX_AMOUNT,TX_FRAUD,TX_FRAUD_SCENARIO\n"
    + "".join(
        f"{i},2018-04-01 {i // 60:02d}:{i % 60:02d}:00,{i % 7},{i % 5},{i}.25,0,0\n"
        for i in range(200)
    )
)


def fraudops(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "fraudops.cli", *args], capture_output=True, text=True, timeout=300
    )


def history(tmp_path: Path, bad: dict[int, str]) -> Path:
    """200 Handbook rows (one a $0 verification); ``bad``: row number -> a broken amount."""
    lines = HANDBOOK_CSV.splitlines()
    lines[1] = lines[1].replace(",0.25,", ",0.00,")
    for row, amount in bad.items():
        fields = lines[row].split(",")
        fields[4] = amount
        lines[row] = ",".join(fields)
    path = tmp_path / "h.csv"
    path.write_text("\n".join(lines) + "\n")
    return path


def test_policy_allows_only_what_it_says() -> None:
    assert InvalidPolicy().allows(100, 0) and not InvalidPolicy().allows(10**6, 1)
    q = InvalidPolicy("quarantine", 0.01)
    assert q.allows(100, 1) and not q.allows(100, 2) and q.allows(0, 0)
    assert InvalidPolicy("quarantine", 0.0).allows(5, 0)
    assert not InvalidPolicy("quarantine", 0.0).allows(5, 1)
    with pytest.raises(ValueError, match=r"within 0\.\.1"):
        InvalidPolicy("quarantine", 1.5)
    with pytest.raises(ValueError, match="refuse, quarantine"):
        InvalidPolicy("drop")  # type: ignore[arg-type]


def test_refuse_names_the_count_the_first_rows_and_the_way_out(tmp_path: Path) -> None:
    path = history(tmp_path, {3: "abc", 9: "-1", 11: "", 12: "x", 13: "y", 14: "z", 15: "-9"})
    with pytest.raises(InvalidRowsRefused) as info:
        read_history_checked(path, InvalidPolicy())
    text = str(info.value)
    assert text.startswith(f"{path}: 7 of 200 rows invalid (3.50%)")
    assert "row 3, field 'amount': not a number (got 'abc')" in text
    assert "row 9, field 'amount': must be >= 0 (got '-1')" in text
    assert "row 11, field 'amount': not a number" in text and "... and 2 more" in text
    assert "--on-invalid quarantine" in text
    assert not list(tmp_path.glob("*.quarantine.parquet"))


def test_quarantine_keeps_good_rows_writes_bad_ones_and_refuses_above_the_share(
    tmp_path: Path,
) -> None:
    path = history(tmp_path, {3: "abc", 9: "-1"})
    good, n, where = read_history_checked(path, InvalidPolicy("quarantine", 0.01))
    assert n == 2 and where == tmp_path / "h.csv.quarantine.parquet"
    assert len(good) == 198 and (good["amount"] == 0).sum() == 1  # the $0 row is valid
    q = pd.read_parquet(where)
    assert q["row"].tolist() == [3, 9] and q["amount"].tolist() == ["abc", "-1"]
    assert q["error"].tolist() == ["amount: not a number", "amount: must be >= 0"]
    assert q["transaction_id"].tolist() == ["2", "8"]  # the original fields, all of them
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".tmp")]  # temp + rename
    with pytest.raises(InvalidRowsRefused, match=r"more than --max-invalid-share 0.005"):
        read_history_checked(path, InvalidPolicy("quarantine", 0.005))


def test_validate_command(tmp_path: Path) -> None:
    path = history(tmp_path, {3: "abc", 9: "-1"})
    r = fraudops("validate", str(path))
    assert r.returncode == 1 and "2 of 200 rows invalid" in r.stderr
    r = fraudops("validate", str(path), "--on-invalid", "quarantine")
    assert r.returncode == 0, r.stderr
    assert "198 valid transactions" in r.stdout and "2 invalid rows quarantined" in r.stdout
    assert pd.read_parquet(f"{path}.quarantine.parquet")["row"].tolist() == [3, 9]
    q = tmp_path / "elsewhere.parquet"
    r = fraudops("validate", str(path), "--on-invalid", "quarantine",
                 "--max-invalid-share", "0.02", "--quarantine", str(q))  # fmt: skip
    assert r.returncode == 0 and q.exists()
    r = fraudops(
        "validate", str(path), "--on-invalid", "quarantine", "--max-invalid-share", "0.005"
    )
    assert r.returncode == 1 and "more than --max-invalid-share" in r.stderr
    r = fraudops("validate", str(path), "--max-invalid-share", "5")
    assert r.returncode == 2 and "within 0..1" in r.stderr


def test_benchmark_handbook_takes_the_same_options(tmp_path: Path) -> None:
    """The user's case: a Handbook file with $0 payments and a few bad rows."""
    path = history(tmp_path, {3: "abc"})
    r = fraudops("benchmark", "handbook", "--data", str(path))
    assert r.returncode == 1 and "1 of 200 rows invalid" in r.stderr and "row 3" in r.stderr
    from models.benchmark import features_for_protocol

    said: list[str] = []
    frame = features_for_protocol(str(path), said.append, InvalidPolicy("quarantine", 0.01))
    assert len(frame) == 199 and frame["tx_amount"].eq(0).sum() == 1
    assert any("1 invalid rows quarantined" in s for s in said)
    assert pd.read_parquet(f"{path}.quarantine.parquet")["row"].tolist() == [3]


def test_a_next_version_keeps_the_parents_policy_unless_told() -> None:
    """``dataset build --feedback`` and ``retrain`` rebuild from the parent's inputs, which were
    accepted under the parent's policy: it carries over (given options still win)."""
    import argparse

    from fraudops.invalid_rows import add_arguments, policy_from, policy_of

    parent = {"invalid_rows": {"on_invalid": "quarantine", "max_invalid_share": 0.05}}
    assert policy_of(parent) == InvalidPolicy("quarantine", 0.05)
    assert policy_of({}) == InvalidPolicy()  # built before the option: refuse
    p = argparse.ArgumentParser()
    add_arguments(p, "here")
    assert policy_from(p.parse_args([])) == InvalidPolicy("refuse", 0.01)
    assert policy_from(p.parse_args([]), policy_of(parent)) == policy_of(parent)
    given = p.parse_args(["--max-invalid-share", "0.2"])
    assert policy_from(given, policy_of(parent)) == InvalidPolicy("quarantine", 0.2)
    assert policy_from(p.parse_args(["--on-invalid", "refuse"]), policy_of(parent)).mode == "refuse"
