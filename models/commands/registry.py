"""``fraudops models list|show|decisions``: what the registry holds and what was decided."""

from __future__ import annotations

import argparse
import json
import sys

from models.commands import add_registry_argument


def add_arguments(p: argparse.ArgumentParser) -> None:
    sub = p.add_subparsers(dest="action", required=True)
    add_registry_argument(sub.add_parser("list", help="versions with metrics and aliases"))
    show = sub.add_parser("show", help="a version's manifest (name or alias)")
    show.add_argument("version")
    show.add_argument("--full", action="store_true", help="include reference distributions")
    show.add_argument("--json", action="store_true", help="the manifest as JSON (the default)")
    add_registry_argument(show)
    add_registry_argument(sub.add_parser("decisions", help="the decision log"))
    alias = sub.add_parser("alias", help="point the challenger alias at a version (shadow scoring)")
    alias.add_argument("alias", choices=["challenger"])
    alias.add_argument("version", nargs="?", help="model version; omitted with --clear")
    alias.add_argument("--clear", action="store_true", help="remove the alias")
    add_registry_argument(alias)
    from models.commands import shadow_report

    shadow_report.add_parser(sub)


def run(args: argparse.Namespace) -> int:
    from models.registry import ALIAS_NAMES, Registry, RegistryError

    if args.action == "shadow-report":
        from models.commands import shadow_report

        return shadow_report.run(args)
    reg = Registry(args.registry)
    if args.action == "alias":
        if args.clear == bool(args.version):
            print("fraudops models alias: give a version or --clear", file=sys.stderr)
            return 2
        try:
            reg.set_challenger(None if args.clear else reg.resolve(args.version))
        except RegistryError as exc:
            print(f"fraudops models: {exc}", file=sys.stderr)
            return 1
        print(f"challenger: {reg.aliases().get('challenger')}")
        return 0
    if args.action == "list":
        aliases = reg.aliases()
        for v in reg.versions():
            m = reg.manifest(v)
            tags = [a for a in ALIAS_NAMES if aliases.get(a) == v]
            val = m["metrics"]["validation"]
            print(
                f"{v:<6} dataset {m['dataset']['version']:<5} AP {val['average_precision']:.4f} "
                f"AUC {val['auc_roc']:.4f}  {m['created_at']}  {' '.join(tags)}"
            )
        return 0
    if args.action == "decisions":
        for d in reg.decisions():
            print(f"{d['at']}  {d['action']:<8} {d['version']:<6} by {d['by']}: {d.get('reason')}")
        return 0
    try:
        manifest = reg.manifest(reg.resolve(args.version))
    except RegistryError as exc:
        print(f"fraudops models: {exc}", file=sys.stderr)
        return 1
    if not args.full:
        manifest.pop("reference", None)
    print(json.dumps(manifest, indent=2))
    return 0
