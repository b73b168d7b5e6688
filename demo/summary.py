"""The run's outcome: the numbers of the summary (written to summary.json) and its table."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd
from rich.console import Console
from rich.table import Table

from demo import traffic


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


def print_summary(s: dict[str, Any], password: str) -> None:
    """The summary table on stdout; the analyst password is shown here only, never logged."""
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
        ("report", s["report"]),
        ("console", f"{s['console']} (user analyst, password {password}; while running)"),
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
