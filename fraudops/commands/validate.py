"""``fraudops validate``: read a history the way every pipeline will, and say what is wrong."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from fraudops import invalid_rows
from fraudops.readers import HistoryValidationError


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("path", type=Path)
    invalid_rows.add_arguments(p, "<path>.quarantine.parquet, beside the input")


def run(args: argparse.Namespace) -> int:
    policy = invalid_rows.policy_from(args)
    try:
        df, quarantined, where = invalid_rows.read_history_checked(
            args.path, policy, args.quarantine
        )
    except (HistoryValidationError, ValueError, FileNotFoundError) as exc:
        print(f"fraudops validate: {exc}", file=sys.stderr)
        return 1
    frauds = int(df["is_fraud"].sum()) if "is_fraud" in df.columns else None
    first, last = df["timestamp"].min(), df["timestamp"].max()
    print(f"{args.path}: {len(df):,} valid transactions from {first} to {last}", end="")
    print(f", {frauds:,} labelled fraud" if frauds is not None else "")
    if quarantined:
        print(f"{quarantined:,} invalid rows quarantined, with their reasons, in {where}")
    return 0
