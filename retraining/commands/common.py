"""Arguments and setup shared by ``fraudops retrain`` and ``fraudops scheduler``."""

from __future__ import annotations

import argparse
import shlex
import sys
from pathlib import Path

from beam_pipelines.options import add_runner_arguments
from models.commands import add_datasets_argument, add_registry_argument


def add_common_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--config", type=Path, help="TOML/JSON: triggers, windows, gate, train")
    p.add_argument("--database-url", help="feedback database (default: DATABASE_URL)")
    add_datasets_argument(p)
    add_registry_argument(p)
    add_runner_arguments(p)


def command_line() -> str:
    return shlex.join(["fraudops", *sys.argv[1:]])
