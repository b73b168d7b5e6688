"""The run's outcome: the numbers of the summary (written to summary.json) and its table."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pandas as pd
from rich.console import Console
from rich.table import Table

from demo import traffic
from demo.analyst import LIST, Activation


def summarise(
    answers: pd.DataFrame,
    statuses: pd.Series,
    plan: pd.DataFrame,
    first: str,
    run: dict[str, Any],
    serving: str | None,
    report: Path,
    console_url: str,
    seconds: float,
) -> dict[str, Any]:
    """What the run achieved, in the numbers a fraud team asks for (also summary.json)."""
    ok = answers[answers.get("error", pd.Series(index=answers.index)).isna()]
    flagged = ok["decision"].isin(traffic.FLAGGED)
    fraud = ok["is_fraud"] == 1
    lat = ok["latency_ms"]
    return {
        "transactions": len(answers),
        "errors": int(len(answers) - len(ok)),
        "decisions": ok["decision"].value_counts().to_dict(),
        "frauds": int(fraud.sum()),
        "frauds_caught": int((flagged & fraud).sum()),
        "fraud_amount": round(float(ok.loc[fraud, "amount"].sum()), 2),
        "money_saved": round(float(ok.loc[flagged & fraud, "amount"].sum()), 2),
        "legit_held": int((flagged & ~fraud).sum()),
        "p50_ms": round(float(lat.quantile(0.5)), 2),
        "p99_ms": round(float(lat.quantile(0.99)), 2),
        "labels_sent": len(plan),
        "labels_accepted": int(statuses.isin([200, 201]).sum()),
        "models": {
            "first": first,
            "candidate": (run.get("candidate") or {}).get("version"),
            "outcome": run["outcome"],
            "serving": serving,
        },
        "datasets": [run["dataset"]["parent"], run["dataset"]["version"]],
        "report": str(report),
        "console": console_url,
        "seconds": round(seconds, 1),
    }


def print_summary(s: dict[str, Any], password: str, admin_password: str) -> None:
    """The summary table on stdout; the console passwords are shown here only, never logged."""
    t = Table(title="fraudops demo", show_header=False)
    d = s["decisions"]
    rows = [
        ("payments replayed", f"{s['transactions']:,} ({s['errors']} errors)"),
        ("decisions", ", ".join(f"{k} {d.get(k, 0):,}" for k in ("approve", "review", "decline"))),
        ("frauds caught", f"{s['frauds_caught']:,} of {s['frauds']:,}"),
        ("money saved", f"{s['money_saved']:,.2f} of {s['fraud_amount']:,.2f} fraud amount"),
        ("legitimate payments held", f"{s['legit_held']:,}"),
        ("latency (client side)", f"p50 {s['p50_ms']} ms, p99 {s['p99_ms']} ms"),
        ("labels", f"{s['labels_accepted']:,} of {s['labels_sent']:,} accepted"),
        (
            "models",
            f"{s['models']['first']} -> {s['models']['candidate']} "
            f"({s['models']['outcome']}); serving {s['models']['serving']}",
        ),
        ("datasets", " -> ".join(str(v) for v in s["datasets"])),
        (f"backtest, live days of {s['backtest']['dataset']}", backtest_line(s["backtest"])),
        ("shadow, labelled live payments", shadow_line(s["shadow"])),
        ("rules, activated mid-run", rules_line(s["rules"])),
        ("report", s["report"]),
        (
            "console",
            f"{s['console']} (user analyst, password {password}; user admin, "
            f"password {admin_password}; while running)",
        ),
        ("wall time", f"{s['seconds']:.0f} s"),
    ]
    for k, v in rows:
        t.add_row(k, v)
    Console().print(t)


def backtest_line(b: dict[str, Any]) -> str:
    """``m1: caught 40/52 frauds, saved 3,100.00, held 900.00 legit; m2: ...`` (same payments)."""
    parts = []
    for version, t in b["models"].items():
        if "error" in t:
            parts.append(f"{version}: not replayed ({t['error']})")
            continue
        used = t["alert_budget_used"]
        parts.append(
            f"{version}: caught {t['frauds_caught']:,}/{t['frauds']:,} frauds, "
            f"saved {t['fraud_amount_saved']:,.2f}, held {t['legit_amount_held']:,.2f} legit, "
            f"{t['reviews'] + t['declines']:,} flagged"
            + (f" ({used:.0%} of the alert budget)" if used is not None else "")
            + (" [trained/tuned on some of these days]" if t.get("seen_by_model") else "")
        )
    payments = max((t.get("payments", 0) for t in b["models"].values()), default=0)
    return f"{b['from']} on, {payments:,} payments; " + "; ".join(parts)


def shadow_line(sh: dict[str, Any]) -> str:
    """``m2 shadow-scored 1,200 payments (0 skipped); 300 labelled, 20 frauds: AP champion 0.61,
    challenger 0.55 (difference 95% CI [-0.12, +0.02])``; AP is "n/a" with no fraud labelled."""

    def ap(v: float | None) -> str:
        return "n/a" if v is None else f"{v:.3f}"

    ci = sh["ap_difference_95"]
    return (
        f"{sh['challenger']} shadow-scored {sh['shadow_scored']:,} payments "
        f"({sh['skipped']:,} skipped); {sh['labelled']:,} labelled, {sh['frauds']:,} frauds: "
        f"AP champion {ap(sh['champion_ap'])}, challenger {ap(sh['challenger_ap'])}"
        + (f" (difference 95% CI [{ci[0]:+.3f}, {ci[1]:+.3f}])" if ci else "")
    )


def rules_result(
    before: pd.DataFrame,
    after: pd.DataFrame,
    activation: Activation | None,
    metric: dict[str, float],
    review_at: Mapping[str, float],
) -> dict[str, Any]:
    """The rule's effect on the payments replayed after it was activated: hits per rule (from
    the answers' ``rules``, and as the scoring service counted them), the frauds it fired on
    (the simulator's labels), those the model alone would have approved (score under its
    version's review threshold, ``review_at``) and the legitimate payments it held."""
    if activation is None:
        return {"version": None, "activated_after": len(before)}
    fired = after["rules"].map(lambda r: isinstance(r, list) and len(r) > 0)
    fraud = after["is_fraud"] == 1
    review = after["model_version"].map(review_at).astype(float)
    model_approves = after["score"] < review  # False where unknown (an error, a model not given)
    hits: dict[str, int] = {}
    for names in after["rules"]:
        for name in names if isinstance(names, list) else []:
            hits[name] = hits.get(name, 0) + 1
    return {
        "version": activation.version,
        "list": LIST,
        "terminals": activation.terminals,  # terminal -> card holders defrauded there
        "list_version": activation.list_version,
        "activated_after": len(before),
        "hits_before": int(before["rules"].map(lambda r: isinstance(r, list) and r != []).sum()),
        "hits": hits,
        "metric_hits": {k: int(v) for k, v in metric.items()},
        "listed_payments_after": int(after["terminal_id"].isin(activation.terminals).sum()),
        "frauds_caught": int((fired & fraud).sum()),
        "fraud_amount_caught": round(float(after.loc[fired & fraud, "amount"].sum()), 2),
        "frauds_only_the_rule_caught": int((fired & fraud & model_approves).sum()),
        "legit_held": int((fired & ~fraud).sum()),
    }


def rules_line(r: dict[str, Any]) -> str:
    """``r1 after 4,100 payments (@compromised_terminals: 5 terminals): compromised_terminal 23
    hits; caught 20 frauds (1,234.00; 4 of them the model alone would have approved), held 3
    legit``."""
    if r["version"] is None:
        return f"none: no fraud confirmed in the first {r['activated_after']:,} payments"
    hits = ", ".join(f"{k} {v:,} hits" for k, v in r["hits"].items()) or "no hits"
    return (
        f"{r['version']} after {r['activated_after']:,} payments (@{r['list']}: "
        f"{len(r['terminals'])} terminals): {hits}; caught {r['frauds_caught']:,} frauds "
        f"({r['fraud_amount_caught']:,.2f}; {r['frauds_only_the_rule_caught']:,} of them the model "
        f"alone would have approved), held {r['legit_held']:,} legit"
    )
