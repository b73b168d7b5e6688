"""``fraudops experiments list | compare A B``: training runs side by side."""

from __future__ import annotations

import argparse
import sys

from models.commands import add_registry_argument


def add_arguments(p: argparse.ArgumentParser) -> None:
    sub = p.add_subparsers(dest="action", required=True)
    add_registry_argument(sub.add_parser("list", help="every training run, newest last"))
    c = sub.add_parser("compare", help="two runs (model versions or run ids) side by side")
    c.add_argument("a")
    c.add_argument("b")
    add_registry_argument(c)


def _fmt(v: object) -> str:
    return f"{v:.4f}" if isinstance(v, float) else str(v)


def run(args: argparse.Namespace) -> int:
    from models import experiments

    if args.action == "list":
        print(f"{'model':<6} {'started':<20} {'dataset':<8} {'AP':>7} {'AUC':>7} {'CP@100':>7} "
              f"{'wall s':>7} {'cpu s':>7} {'RSS MB':>7}")  # fmt: skip
        for r in experiments.runs(args.registry):
            m = r["metrics"]
            print(f"{r['model_version']:<6} {r['started_at'][:19]:<20} "
                  f"{r['dataset']['version']:<8} {m['average_precision']:>7.4f} "
                  f"{m['auc_roc']:>7.4f} {m['card_precision_at_100']:>7.4f} {r['wall_s']:>7.1f} "
                  f"{r['cpu_s']:>7.1f} {r['peak_rss_mb']:>7.0f}")  # fmt: skip
        return 0
    try:
        a, b = experiments.find(args.registry, args.a), experiments.find(args.registry, args.b)
    except KeyError as exc:
        print(f"fraudops experiments: {exc.args[0]}", file=sys.stderr)
        return 1
    print(f"{'':<34} {a['model_version']:>14} {b['model_version']:>14}")
    for field, va, vb, diff in experiments.compare(a, b):
        print(f"{field:<34} {_fmt(va):>14} {_fmt(vb):>14}  {diff}")
    return 0
