"""``fraudops rollback``: production goes back to the previous production model."""

from __future__ import annotations

import argparse
import sys

from models.commands import add_registry_argument


def add_arguments(p: argparse.ArgumentParser) -> None:
    add_registry_argument(p)
    p.add_argument("--reason", default="manual rollback", help="recorded in the decision log")


def run(args: argparse.Namespace) -> int:
    from models.registry import Registry, RegistryError

    try:
        old, new = Registry(args.registry).rollback(args.reason)
    except RegistryError as exc:
        print(f"fraudops rollback: {exc}", file=sys.stderr)
        return 1
    print(f"production: {old} -> {new}")
    return 0
