"""The ``fraudops`` command: a thin face that imports each subcommand's part only when it runs.

Subcommand modules expose ``add_arguments(parser)`` and ``run(args) -> int``; listing them here as
strings keeps ``fraudops --help`` fast and the core usable without Beam, FastAPI or CatBoost.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

from pydantic import ValidationError

COMMANDS: dict[str, tuple[str, str]] = {
    "simulate": ("fraudops.commands.simulate", "write a simulated labelled transaction history"),
    "validate": ("fraudops.commands.validate", "check a history file; report bad rows and fields"),
    "features": ("fraudops.commands.features", "list the feature contract (names, windows)"),
    "backfill": ("beam_pipelines.commands.backfill", "Beam: profiles as of a cut-off into Redis"),
    "dataset": ("retraining.commands.dataset", "build / validate / list / show dataset versions"),
    "stream": ("beam_pipelines.commands.stream", "Beam streaming: keep Redis profiles current"),
    "train": ("models.commands.train", "train CatBoost on a dataset version; register candidate"),
    "promote": ("models.commands.promote", "promotion gate: candidate vs production, then switch"),
    "rollback": ("models.commands.rollback", "restore the previous production model"),
    "models": ("models.commands.registry", "model registry: list / show / decisions"),
    "experiments": ("models.commands.experiments", "training runs: experiments list | compare A B"),
    "report": ("models.commands.report", "HTML report with plots for a model version"),
    "backtest": ("models.commands.backtest", "replay a dataset version through a model's policy"),
    "benchmark": ("models.commands.benchmark", "model quality: benchmark handbook --data PATH"),
    "retrain": (
        "retraining.commands.retrain",
        "one retraining run: triggers, dataset, train, gate",
    ),
    "scheduler": ("retraining.commands.scheduler", "check the retraining triggers on a schedule"),
    "serve": ("services.commands.serve", "run a service: serve scoring|feedback [--port ...]"),
    "explain": (
        "services.commands.explain",
        "decision audit of a transaction: score, reasons, features",
    ),
    "erase": ("services.commands.erase", "right to erasure: erase --customer ID (audit-logged)"),
    "keys": ("services.commands.keys", "API keys: keys new --name N --scopes score"),
    "demo": ("demo.commands.demo", "the whole loop on this machine, ending with a summary"),
    "rules": (
        "models.commands.rules",
        "rule sets: check / publish / activate / rollback / list / diff / backtest / bench",
    ),
    "bench": ("fraudops.commands.bench", "speed benchmarks: bench pipeline | bench core"),
}


def _usage() -> str:
    width = max(len(n) for n in COMMANDS)
    lines = [f"  {name:<{width}}  {help_}" for name, (_, help_) in COMMANDS.items()]
    return "usage: fraudops COMMAND [options]\n\ncommands:\n" + "\n".join(lines)


def _first_error(exc: ValidationError) -> str:
    """``CoreSettings.key_prefix: String should match ...``: the setting, not a traceback."""
    error = exc.errors()[0]
    field = ".".join(str(p) for p in error.get("loc", ()))
    more = f" (and {exc.error_count() - 1} more)" if exc.error_count() > 1 else ""
    return f"{exc.title}.{field}: {error['msg']} (from the environment){more}"


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if not args or args[0] in ("-h", "--help"):
        print(_usage())
        return 0
    if args[0] == "--version":
        from fraudops import __version__

        print(__version__)
        return 0
    name = args[0]
    if name not in COMMANDS:
        print(f"fraudops: unknown command {name!r}\n\n{_usage()}", file=sys.stderr)
        return 2
    module = importlib.import_module(COMMANDS[name][0])
    parser = argparse.ArgumentParser(prog=f"fraudops {name}", description=COMMANDS[name][1])
    try:
        module.add_arguments(parser)
        if getattr(module, "PASSTHROUGH", False):  # unknown flags belong to the runner (Beam)
            ns, extra = parser.parse_known_args(args[1:])
            ns.passthrough = extra
        else:
            ns = parser.parse_args(args[1:])
        return int(module.run(ns))
    except ValidationError as exc:  # a setting from the environment (pydantic-settings)
        print(f"fraudops {name}: configuration: {_first_error(exc)}", file=sys.stderr)
        return 2
    except BrokenPipeError:  # `fraudops features | head`
        sys.stderr.close()
        return 0


if __name__ == "__main__":
    raise SystemExit(main())
