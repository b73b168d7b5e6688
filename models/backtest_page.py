"""The backtest's HTML page: per-day decisions, money and alert budget, plots as in the report."""

from __future__ import annotations

import html
import json
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import pandas as pd

from models.report import images, save_figure, table, write_page


def _lines(ax: Any, days: pd.DataFrame, lines: dict[str, tuple[str, str]]) -> None:
    """One line per column: ``{column: (matplotlib style, label)}``."""
    for column, (style, label) in lines.items():
        ax.plot(pd.to_datetime(days["day"]), days[column], style, label=label)


def _finish(fig: Any, ax: Any, out: Path, name: str, title: str, ylabel: str) -> str:
    ax.set(ylabel=ylabel, title=title)
    ax.legend()
    fig.autofmt_xdate()
    return save_figure(fig, out, name)


def _decisions(days: pd.DataFrame, out: Path) -> str:
    fig, ax = plt.subplots(figsize=(10, 4))
    x = pd.to_datetime(days["day"])
    ax.bar(x, days["reviews"], label="reviews", color="orange")
    ax.bar(x, days["declines"], bottom=days["reviews"], label="declines", color="red")
    _lines(ax, days, {"frauds": ("k.-", "frauds"), "frauds_caught": ("g.-", "frauds caught")})
    return _finish(fig, ax, out, "decisions.png", "Decisions and frauds per day", "payments")


def _money(days: pd.DataFrame, out: Path) -> str:
    fig, ax = plt.subplots(figsize=(10, 4))
    lines = {
        "fraud_amount": ("k.-", "fraud amount"),
        "fraud_amount_saved": ("g.-", "fraud amount saved"),
        "legit_amount_held": ("r.-", "legitimate amount held"),
    }
    _lines(ax, days, lines)
    return _finish(fig, ax, out, "money.png", "Money per day", "amount")


def _budget(days: pd.DataFrame, out: Path) -> list[str]:
    used = pd.to_numeric(days["alert_budget_used"], errors="coerce")
    if used.isna().all():
        return []
    fig, ax = plt.subplots(figsize=(10, 3))
    ax.bar(pd.to_datetime(days["day"]), used * 100)
    ax.axhline(100, color="red", ls="--")
    ax.set(ylabel="% of the alert budget", title="Alert budget used (reviews + declines)")
    fig.autofmt_xdate()
    return [save_figure(fig, out, "alert_budget.png")]


def write_backtest_page(result: dict[str, Any], out: Path) -> Path:
    """``out/index.html`` with the totals, the per-day table and the plots of ``result``."""
    out.mkdir(parents=True, exist_ok=True)
    days = pd.DataFrame(result["per_day"])
    plots = [_decisions(days, out), _money(days, out), *_budget(days, out)]
    per_day = {str(c): dict(zip(days["day"], days[c], strict=True)) for c in days if c != "day"}
    title = f"Backtest of {result['model']} on dataset {result['dataset']}"
    body = f"""<h1>{html.escape(title)}</h1>
<p>{html.escape(result["from"])} .. {html.escape(result["to"])}</p>
<h2>Totals</h2>{table({result["model"]: result["totals"]})}
<h2>Decision policy</h2><pre>{html.escape(json.dumps(result["thresholds"], indent=2))}</pre>
{images(plots)}
<h2>Per day</h2>{table(per_day, corner="day")}"""
    return write_page(out, title, body)
