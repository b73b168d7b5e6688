"""``fraudops simulate``: write a simulated history as Parquet or CSV (by extension)."""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from datetime import date
from pathlib import Path

import pandas as pd

from fraudops.simulator import SimulationConfig, simulate, to_handbook


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--customers", type=int, default=5000)
    p.add_argument("--terminals", type=int, default=10000)
    p.add_argument("--days", type=int, default=183)
    p.add_argument("--start-date", type=date.fromisoformat, default=date(2018, 4, 1))
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", type=Path, required=True, help="*.parquet, *.pq, *.csv or *.csv.gz")
    p.add_argument("--format", choices=("canonical", "handbook"), default="canonical")


def write_frame(df: pd.DataFrame, out: Path) -> None:
    """Write atomically (temp file + rename) so a reader never sees half a history."""
    name = out.name.lower()
    out.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=out.parent, prefix=f".{out.name}.", suffix=".tmp")
    os.close(fd)
    try:
        if name.endswith((".parquet", ".pq")):
            df.to_parquet(tmp, index=False)
        elif name.endswith((".csv", ".csv.gz")):
            frame = df.copy()
            for col in frame.columns:
                if isinstance(frame[col].dtype, pd.DatetimeTZDtype):
                    frame[col] = frame[col].dt.strftime("%Y-%m-%dT%H:%M:%SZ")
            frame.to_csv(tmp, index=False, compression="gzip" if name.endswith(".gz") else None)
        else:
            raise ValueError(f"{out}: use .parquet, .pq, .csv or .csv.gz")
        os.replace(tmp, out)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def run(args: argparse.Namespace) -> int:
    for flag in ("customers", "terminals", "days"):
        if getattr(args, flag) <= 0:
            print(f"fraudops simulate: --{flag} must be > 0", file=sys.stderr)
            return 2
    cfg = SimulationConfig(
        customers=args.customers,
        terminals=args.terminals,
        days=args.days,
        start_date=args.start_date,
        seed=args.seed,
        extras=args.format == "canonical",
    )
    started = time.perf_counter()
    df = simulate(cfg)
    if args.format == "handbook":
        df = to_handbook(df, cfg.start_date)
    try:
        write_frame(df, args.out)
    except ValueError as exc:
        print(f"fraudops simulate: {exc}", file=sys.stderr)
        return 2
    fraud = df["TX_FRAUD" if args.format == "handbook" else "is_fraud"]
    print(
        f"wrote {len(df):,} transactions ({fraud.mean():.3%} fraud) to {args.out} "
        f"in {time.perf_counter() - started:.1f} s"
    )
    return 0
