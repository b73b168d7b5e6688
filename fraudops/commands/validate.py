"""``fraudops validate``: read a history the way every pipeline will, and say what is wrong."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from fraudops.readers import HistoryValidationError, read_history


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("path", type=Path)


def run(args: argparse.Namespace) -> int:
    try:
        df = read_history(args.path)
    except (HistoryValidationError, ValueError, FileNotFoundError) as exc:
        print(f"fraudops validate: {exc}", file=sys.stderr)
        return 1
    frauds = int(df["is_fraud"].sum()) if "is_fraud" in df.columns else None
    first, last = df["timestamp"].min(), df["timestamp"].max()
    print(f"{args.path}: {len(df):,} valid transactions from {first} to {last}", end="")
    print(f", {frauds:,} labelled fraud" if frauds is not None else "")
    return 0
