"""``fraudops report VERSION``: an HTML page with PNG plots for the fraud team and the reviewers.

Everything is computed from the model's own validation rows (kept in the registry), so a report
can be rebuilt at any time without the dataset. The production model, when there is another one
whose contract matches, scores the same rows for the comparison.
"""

from __future__ import annotations

import html
import json
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from sklearn.metrics import precision_recall_curve, roc_curve

from models import artifact
from models.experiments import CURVES
from models.metrics import day_index, evaluate
from models.registry import ContractMismatch, Registry
from models.training import FEATURES, pool

SHAP_ROWS = 2000


def save_figure(fig: Any, out: Path, name: str) -> str:
    fig.tight_layout()
    fig.savefig(out / name, dpi=90)
    plt.close(fig)
    return name


def _curves(valid: pd.DataFrame, scored: dict[str, np.ndarray], out: Path) -> list[str]:
    y = valid["is_fraud"].to_numpy()
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(10, 4))
    for name, s in scored.items():
        p, r, _ = precision_recall_curve(y, s)
        ax1.plot(r, p, label=name)
        fpr, tpr, _ = roc_curve(y, s)
        ax2.plot(fpr, tpr, label=name)
    ax1.set(xlabel="recall", ylabel="precision", title="Precision-recall (validation)")
    ax2.plot([0, 1], [0, 1], ":", color="grey")
    ax2.set(xlabel="false positive rate", ylabel="true positive rate", title="ROC (validation)")
    ax1.legend()
    ax2.legend()
    return [save_figure(fig, out, "curves.png")]


def _distributions(valid: pd.DataFrame, scores: np.ndarray, t: dict[str, Any], out: Path) -> str:
    y = valid["is_fraud"].to_numpy().astype(bool)
    fig, ax = plt.subplots(figsize=(7, 4))
    bins = [i / 50 for i in range(51)]
    ax.hist(scores[~y], bins=bins, alpha=0.6, label="legitimate", log=True)
    ax.hist(scores[y], bins=bins, alpha=0.6, label="fraud", log=True)
    ax.axvline(t["review"], color="orange", ls="--", label="review")
    if t.get("decline") is not None:
        ax.axvline(t["decline"], color="red", ls="--", label="decline")
    ax.set(xlabel="score", ylabel="payments (log)", title="Score distribution by class")
    ax.legend()
    return save_figure(fig, out, "scores.png")


def _threshold_sweep(valid: pd.DataFrame, scores: np.ndarray, t: dict[str, Any], out: Path) -> str:
    y = valid["is_fraud"].to_numpy()
    days = max(1, len(np.unique(day_index(valid["timestamp"]))))
    grid = np.unique(np.quantile(scores, np.linspace(0.5, 1.0, 200)))
    alerts = np.array([(scores >= g).sum() / days for g in grid])
    precision = np.array([y[scores >= g].mean() if (scores >= g).any() else np.nan for g in grid])
    fig, ax1 = plt.subplots(figsize=(7, 4))
    ax1.plot(grid, alerts, color="tab:blue")
    ax1.set(xlabel="threshold", ylabel="flagged payments per day", yscale="log")
    ax2 = ax1.twinx()
    ax2.plot(grid, precision, color="tab:red")
    ax2.set_ylabel("precision of flagged", color="tab:red")
    ax1.axvline(t["review"], color="orange", ls="--")
    if t.get("decline") is not None:
        ax1.axvline(t["decline"], color="red", ls="--")
    ax1.set_title(f"Thresholds: review budget {t['review_budget_per_day']:g}/day")
    return save_figure(fig, out, "thresholds.png")


def _importance(loaded: artifact.LoadedModel, valid: pd.DataFrame, out: Path) -> list[str]:
    imp = loaded.model.get_feature_importance(type="PredictionValuesChange")
    order = np.argsort(imp)
    fig, ax = plt.subplots(figsize=(7, 8))
    ax.barh(np.array(FEATURES)[order], imp[order])
    ax.set_title("Feature importance (PredictionValuesChange)")
    names = [save_figure(fig, out, "importance.png")]
    sample = valid.sample(min(SHAP_ROWS, len(valid)), random_state=0)
    shap = loaded.model.get_feature_importance(pool(sample), type="ShapValues")[:, :-1]
    top = np.argsort(np.abs(shap).mean(axis=0))[::-1][:12]
    fig, ax = plt.subplots(figsize=(8, 6))
    for row, j in enumerate(top[::-1]):
        values = sample[FEATURES[j]]
        numeric = pd.to_numeric(values, errors="coerce")
        rank = numeric.rank(pct=True).fillna(0.5).to_numpy()
        jitter = np.random.default_rng(j).uniform(-0.3, 0.3, len(rank))
        ax.scatter(shap[:, j], row + jitter, c=rank, cmap="coolwarm", s=4)
    ax.set_yticks(range(len(top)), [FEATURES[j] for j in top[::-1]])
    ax.set(xlabel="SHAP value (log-odds; colour: feature value rank)", title="SHAP summary")
    names.append(save_figure(fig, out, "shap.png"))
    return names


def table(rows: dict[str, dict[str, Any]], corner: str = "metric") -> str:
    """One column per outer key, one row per inner key (sorted)."""
    keys = sorted({k for m in rows.values() for k in m if not isinstance(m[k], dict)})
    head = "".join(f"<th>{html.escape(n)}</th>" for n in rows)
    body = "".join(
        f"<tr><td>{html.escape(k)}</td>"
        + "".join(f"<td>{_fmt(m.get(k))}</td>" for m in rows.values())
        + "</tr>"
        for k in keys
    )
    return f"<table><tr><th>{html.escape(corner)}</th>{head}</tr>{body}</table>"


def _fmt(v: Any) -> str:
    if isinstance(v, float):
        return f"{v:,.4f}" if abs(v) < 1000 else f"{v:,.0f}"
    return html.escape(str(v)) if v is not None else "-"


def _learning_curves(model_dir: Path, out: Path) -> list[str]:
    """Loss and validation AUC / AP per iteration of the chosen candidate (experiment record)."""
    path = model_dir / CURVES
    if not path.exists():
        return []
    curves = json.loads(path.read_text())
    fig, (loss, quality) = plt.subplots(1, 2, figsize=(11, 4))
    for side, metrics in curves.items():
        if "Logloss" in metrics:
            loss.plot(metrics["Logloss"], label=f"{side} Logloss")
        for name in ("PRAUC", "AUC"):
            if name in metrics:
                quality.plot(metrics[name], label=f"{side} {name}")
    loss.set_xlabel("iteration")
    loss.legend()
    quality.set_xlabel("iteration")
    quality.legend()
    return [save_figure(fig, out, "learning_curves.png")]


def write_report(registry: Registry, ref: str, out: Path) -> Path:
    loaded = artifact.load(registry, ref)
    m = loaded.manifest
    valid = artifact.validation_frame(registry, loaded.version)
    out.mkdir(parents=True, exist_ok=True)
    scores = valid["score"].to_numpy()
    scored = {loaded.version: scores}
    comparison = {f"{loaded.version} (this)": evaluate(valid, scores, m["thresholds"])}
    production = registry.aliases().get("production")
    note = "no production model to compare with"
    if production and production != loaded.version:
        try:
            prod = artifact.load(registry, production)
            prod_scores = prod.score(valid)
            scored[f"{production} (production)"] = prod_scores
            comparison[f"{production} (production)"] = evaluate(valid, prod_scores, prod.thresholds)
            note = f"production {production} scored on the same validation rows"
        except ContractMismatch as exc:
            note = f"production {production} cannot score these rows: {exc}"
    elif production == loaded.version:
        note = "this model is production"
    plots = [
        *_learning_curves(registry.path(loaded.version), out),
        *_curves(valid, scored, out),
        _distributions(valid, scores, m["thresholds"], out),
        _threshold_sweep(valid, scores, m["thresholds"], out),
        *_importance(loaded, valid, out),
    ]
    money = {k: v.get("money", {}) for k, v in comparison.items()}
    lineage = {
        k: m.get(k)
        for k in (
            "dataset",
            "feature_set_version",
            "feature_fingerprint",
            "imbalance",
            "tree_count",
            "code_commit",
            "created_at",
            "train",
            "validation",
        )
    }
    body = f"""<h1>Model {html.escape(loaded.version)}</h1>
<h2>Metrics on validation ({len(valid):,} payments, {int(valid["is_fraud"].sum()):,} frauds)</h2>
<p>{html.escape(note)}</p>{table(comparison)}
<h2>Money at the chosen thresholds</h2>{table(money)}
<h2>Thresholds</h2><pre>{html.escape(json.dumps(m["thresholds"], indent=2))}</pre>
{images(plots)}
<h2>Lineage</h2><pre>{html.escape(json.dumps(lineage, indent=2, default=str))}</pre>"""
    return write_page(out, f"fraudops model {loaded.version}", body)


def images(plots: list[str]) -> str:
    return "".join(f'<h2>{html.escape(p.removesuffix(".png"))}</h2><img src="{p}">' for p in plots)


def write_page(out: Path, title: str, body: str) -> Path:
    """``out/index.html``: ``body`` (trusted HTML) in the reports' page style."""
    page = f"""<!doctype html><html><head><meta charset="utf-8">
<title>{html.escape(title)}</title>
<style>body{{font-family:sans-serif;max-width:1100px;margin:2em auto}}
table{{border-collapse:collapse}}td,th{{border:1px solid #ccc;padding:3px 8px;text-align:right}}
img{{max-width:100%}}</style></head><body>
{body}
</body></html>"""
    index = out / "index.html"
    index.write_text(page)
    return index
