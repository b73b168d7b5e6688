"""``fraudops dataset validate vN``: the data validation gate on a version (exit 1: invalid)."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from fraudops import datasets
from fraudops.settings import PathSettings


def add_arguments(v: argparse.ArgumentParser) -> None:
    v.add_argument("version")
    v.add_argument("--out", type=Path, default=PathSettings().dataset_dir)
    v.add_argument("--expectations", type=Path, help="TOML (default: models/expectations.toml)")
    v.add_argument("--json", action="store_true")


def run(args: argparse.Namespace) -> int:
    from models import data_gate

    try:
        exp = data_gate.load_expectations(args.expectations)
        report = data_gate.validate_version(args.out, args.version, exp)
    except (datasets.DatasetError, OSError, ValueError) as exc:
        print(f"fraudops dataset validate: {exc}", file=sys.stderr)
        return 2
    print(json.dumps(report, indent=2) if args.json else data_gate.explain(report))
    return 0 if report["valid"] else 1
