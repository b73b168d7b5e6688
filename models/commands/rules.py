"""``fraudops rules check|publish|activate|rollback|list|history|diff|backtest|bench``: the fraud
team's rule sets (docs/rules.md). Everything but ``backtest`` needs only the core package."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from fraudops.settings import PathSettings
from models.commands import add_datasets_argument, add_registry_argument

PROG = "fraudops rules"


def add_arguments(p: argparse.ArgumentParser) -> None:
    sub = p.add_subparsers(dest="action", required=True)
    check = sub.add_parser("check", help="parse and type-check a rule file (exit 1 if refused)")
    check.add_argument("file", type=Path)
    publish = sub.add_parser("publish", help="store a rule file as the next version rN")
    publish.add_argument("file", type=Path)
    _who_why(publish, required=True)
    activate = sub.add_parser("activate", help="make a version the active rule set")
    activate.add_argument("version")
    _who_why(activate, required=True)
    rollback = sub.add_parser("rollback", help="the previously active version becomes active")
    _who_why(rollback, required=False)
    listing = sub.add_parser("list", help="versions, the active one, who published them and why")
    listing.add_argument("--json", action="store_true")
    history = sub.add_parser("history", help="every publish / activate / rollback (who, why, when)")
    history.add_argument("--json", action="store_true")
    diff = sub.add_parser("diff", help="unified diff of two versions")
    diff.add_argument("a")
    diff.add_argument("b")
    backtest = sub.add_parser("backtest", help="a rule file or version over a dataset version")
    backtest.add_argument("rules", help="a rule file, a version rN or active")
    backtest.add_argument("--dataset", required=True, help="dataset version (vK)")
    backtest.add_argument("--model", help="model version or alias (default: production, if any)")
    backtest.add_argument("--lists", type=Path, metavar="FILE", help='JSON {"name": ["v", ...]}')
    backtest.add_argument("--from", dest="start", metavar="DATE", help="first UTC day")
    backtest.add_argument("--to", dest="end", metavar="DATE", help="last UTC day")
    backtest.add_argument("--json", action="store_true", help="print the result as JSON")
    add_registry_argument(backtest)
    add_datasets_argument(backtest)
    bench = sub.add_parser("bench", help="microseconds per payment of a compiled rule set")
    bench.add_argument("--rules", type=int, default=50)
    bench.add_argument("--payments", type=int, default=20_000)
    bench.add_argument("--json", action="store_true")
    for parser in (check, publish, activate, rollback, listing, history, diff, backtest):
        parser.add_argument(
            "--rules-dir",
            type=Path,
            default=PathSettings().rules_root(),
            help="rule-set versions (env FRAUDOPS_RULES_DIR; default: rules beside the models)",
        )


def _who_why(p: argparse.ArgumentParser, required: bool) -> None:
    p.add_argument("--reason", required=required, default=None if required else "manual rollback")
    p.add_argument("--by", help="who (default: FRAUDOPS_ACTOR or the login name)")


def run(args: argparse.Namespace) -> int:
    from fraudops.rules import RuleError
    from fraudops.rules.registry import RuleRegistryError
    from models.registry import RegistryError  # BacktestError is one (models.backtest: heavy)

    try:
        return _run(args)
    except RuleError as exc:
        where = getattr(args, "file", None) or getattr(args, "rules", "rules")
        print(f"{where}:{exc.line}:{exc.column}: {exc.reason}", file=sys.stderr)
        return 1
    except (RuleRegistryError, RegistryError) as exc:
        print(f"{PROG} {args.action}: {exc}", file=sys.stderr)
        return 2


def _read(path: Path) -> str:
    from fraudops.rules.registry import RuleRegistryError

    try:
        return path.read_text()
    except (OSError, UnicodeDecodeError) as exc:
        raise RuleRegistryError(f"cannot read {path}: {exc}") from None


def _actor(args: argparse.Namespace) -> str:
    """``--by``, else FRAUDOPS_ACTOR, else the login name (as the model registry records)."""
    import getpass

    from models.settings import ModelSettings

    try:
        login = getpass.getuser()
    except (KeyError, OSError):
        login = "unknown"
    return str(args.by or ModelSettings().actor or login)


def _run(args: argparse.Namespace) -> int:
    from fraudops.rules import RuleSet
    from fraudops.rules.registry import RuleRegistry

    if args.action == "bench":
        from fraudops.rules.bench import bench_rules

        result = bench_rules(args.rules, args.payments)
        print(json.dumps(result) if args.json else _bench_line(result))
        return 0
    reg = RuleRegistry(args.rules_dir)
    if args.action == "check":
        ruleset = RuleSet.parse(_read(args.file))
        ruleset.compile()
        print(f"ok: {len(ruleset.rules)} rules ({', '.join(ruleset.names) or 'none'})")
    elif args.action == "publish":
        print(reg.publish(_read(args.file), _actor(args), args.reason))
    elif args.action == "activate":
        reg.activate(args.version, _actor(args), args.reason)
        print(f"active: {args.version}")
    elif args.action == "rollback":
        before, after = reg.rollback(_actor(args), args.reason)
        print(f"active: {after} (was {before})")
    elif args.action == "list":
        _list(reg, args.json)
    elif args.action == "history":
        entries = reg.history()
        if args.json:
            print(json.dumps(entries, indent=2))
        for e in [] if args.json else entries:
            print(f"{e['at']}  {e['action']:<8} {e['version']:<5} by {e['by']}: {e['reason']}")
    elif args.action == "diff":
        sys.stdout.write(reg.diff(reg.resolve(args.a), reg.resolve(args.b)))
    elif args.action == "backtest":
        return _backtest(args, reg)
    return 0


def _bench_line(r: dict[str, Any]) -> str:
    return (
        f"rules: {r['rules']} rules, {r['payments']} payments: "
        f"{r['rules_us_per_payment']} us CPU per payment (wall {r['rules_wall_us_per_payment']}), "
        f"{r['rules_fired_per_payment']} fired each; payment_values {r['values_us_per_payment']} us"
    )


def _list(reg: Any, as_json: bool) -> None:
    active = reg.active()
    rows = []
    for v in reg.versions():
        m = reg.manifest(v)
        rows.append(
            {
                "version": v,
                "active": v == active,
                "rules": len(m["rules"]),
                "author": m["author"],
                "reason": m["reason"],
                "created_at": m["created_at"],
            }
        )
    if as_json:
        print(json.dumps(rows, indent=2))
        return
    for r in rows:
        mark = "active" if r["active"] else ""
        print(
            f"{r['version']:<5} {r['rules']:>3} rules  {r['created_at']}  by {r['author']}: "
            f"{r['reason']}  {mark}".rstrip()
        )


def _backtest(args: argparse.Namespace, reg: Any) -> int:
    from fraudops.rules import RuleSet
    from models.registry import Registry
    from models.rules_backtest import run_rules_backtest

    path = Path(args.rules)
    if path.exists():
        label, text = str(path), _read(path)
    else:
        label = reg.resolve(args.rules)
        text = reg.text(label)
    compiled = RuleSet.parse(text).compile()
    models = Registry(args.registry)
    model = args.model
    if model is None and models.aliases().get("production"):
        model = "production"
    model = models.resolve(model) if model else None
    lists = read_lists(args.lists) if args.lists else {}
    result = run_rules_backtest(
        compiled, label, args.datasets, args.dataset, models, model, lists, args.start, args.end
    )
    if args.json:
        print(json.dumps(result, indent=2))
    else:
        _print_backtest(result)
    if result["lists"]["missing"] and not args.json:
        missing = ", ".join("@" + n for n in result["lists"]["missing"])
        print(f"note: no values given for {missing} (empty: --lists FILE)")
    return 0


def read_lists(path: Path) -> dict[str, frozenset[str]]:
    """``--lists FILE``: a JSON object, each name -> a list of strings."""
    from models.backtest import BacktestError

    try:
        doc = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise BacktestError(f"lists file {path}: cannot read it as JSON ({exc})") from None
    if not isinstance(doc, dict):
        raise BacktestError(f'lists file {path}: expected an object {{"name": ["value", ...]}}')
    out = {}
    for name, values in doc.items():
        if not isinstance(values, list) or not all(isinstance(v, str) for v in values):
            raise BacktestError(f"lists file {path}: {name!r} must be a list of strings")
        out[name.removeprefix("@")] = frozenset(values)
    return out


COLUMNS = (  # key, heading, width
    ("rule", "rule", -24), ("action", "action", -7), ("hits", "hits", 8),
    ("hits_per_day", "per day", 8), ("precision", "precision", 9), ("frauds", "frauds", 7),
    ("fraud_amount", "fraud amt", 12), ("legit", "legit", 7),
    ("model_flagged_too", "model too", 9), ("adds_frauds", "+frauds", 7),
    ("adds_legit", "+legit", 7),
)  # fmt: skip


def _cell(key: str, value: Any) -> str:
    if value is None:
        return "-"
    if key == "precision":
        return f"{value:.1%}"
    if key == "fraud_amount":
        return f"{value:,.2f}"
    return str(value)


def _table_line(cells: dict[str, str]) -> str:
    return " ".join(
        cells[k].ljust(-w) if w < 0 else cells[k].rjust(w) for k, _, w in COLUMNS
    ).rstrip()


def _print_backtest(r: dict[str, Any]) -> None:
    s = r["set"]
    print(
        f"rules backtest of {r['rules']} on {r['dataset']} with model {r['model'] or '(none)'}: "
        f"{r['payments']:,} payments, {r['frauds']:,} frauds, {r['from']} .. {r['to']} "
        f"({r['days']} days)"
    )
    print(_table_line({k: h for k, h, _ in COLUMNS}))
    for row in [*r["per_rule"], {**s, "rule": "(set: any rule)", "action": ""}]:
        print(_table_line({k: _cell(k, row[k]) for k, _, _ in COLUMNS}))
    d, m = s["decisions"], s["model_alone"]
    for name, x in (("rules + model", d), ("model alone", m)):
        print(
            f"{name:<14} reviews {x['reviews']:>7,} declines {x['declines']:>7,} "
            f"frauds caught {x['frauds_caught']:>6,} ({x['fraud_amount_caught']:,.2f}) "
            f"legit held {x['legit_held']:>7,} ({x['legit_amount_held']:,.2f})"
        )
    print(
        f"the rules add {s['frauds_added']:,} frauds caught; allow rules release "
        f"{s['frauds_released']:,} frauds and {s['legit_released']:,} legit payments the model held"
    )
    if r["absent_fields"]:
        print(f"note: the dataset has no {', '.join(r['absent_fields'])}: missing in every row")
    t = r["timing_s"]
    print(
        f"time: load {t['load']} s, score {t['score']} s, rules {t['rules']} s, "
        f"statistics {t['statistics']} s"
    )
