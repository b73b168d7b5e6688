"""``fraudops report VERSION``: HTML + PNG plots of a model (and its comparison with production)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from models.commands import add_registry_argument


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("version", help="model version or alias")
    add_registry_argument(p)
    p.add_argument("--out", type=Path, help="directory (default: <registry>/<version>/report)")


def run(args: argparse.Namespace) -> int:
    from models.registry import Registry, RegistryError
    from models.report import write_report

    reg = Registry(args.registry)
    try:
        version = reg.resolve(args.version)
        index = write_report(reg, version, args.out or reg.root / version / "report")
    except RegistryError as exc:
        print(f"fraudops report: {exc}", file=sys.stderr)
        return 1
    print(index)
    return 0
