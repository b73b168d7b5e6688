"""The model card written with every model version: what it is for, what it learned from, how
well it does overall and per segment, and what it cannot do."""

from __future__ import annotations

from typing import Any

LIMITS = (
    "Frauds at a terminal that was compromised recently are invisible until labels arrive: "
    "terminal risk features count only labels that had arrived (by design, point in time).",
    "A new customer or terminal has empty profiles: its first payments are scored from the "
    "payment itself.",
    "Scores are calibrated on the training period's fraud rate; a shift in fraud rate moves "
    "precision at the same threshold (monitor precision, retrain on drift).",
    "Degraded answers (Redis unavailable) never decline; they are reviewed at most.",
    "Segments with fewer than the gate's minimum frauds are not judged for fairness gaps.",
)


def render(manifest: dict[str, Any], segments: dict[str, dict[str, dict[str, Any]]]) -> str:
    m = manifest["metrics"]["validation"]
    t = manifest["thresholds"]
    ds = manifest["dataset"]
    lines = [
        f"# Model card: {manifest.get('version', '(candidate)')}",
        "",
        "## Intended use",
        "Scores card payments in real time for fraud (probability of fraud), for payment systems",
        "that approve, hold for review (the card holder is asked in-app) or decline. It supports",
        "the fraud team; it is not the only control and must not be used to judge people.",
        "",
        "## Data",
        f"Dataset {ds.get('version')} (content hash {str(ds.get('content_hash'))[:16]}, "
        f"{ds.get('rows')} rows); training {manifest['train']}; validation "
        f"{manifest['validation']}. Features: contract v{manifest['feature_set_version']} "
        f"({len(manifest['features'])} features, fingerprint "
        f"{manifest['feature_fingerprint'][:12]}).",
        "",
        "## Metrics (validation, time-ordered split)",
        f"AUC ROC {m['auc_roc']:.4f} · average precision {m['average_precision']:.4f} · "
        f"Card Precision@100 {m['card_precision_at_100']:.4f} · recall at 1 % FPR "
        f"{m['recall_at_1pct_fpr']:.4f}",
        f"Thresholds: review >= {t['review']:.4f}, decline >= "
        f"{'never' if t.get('decline') is None else format(t['decline'], '.4f')}.",
        "",
        "## Segments (flagged = review or decline)",
        "| segment | payments | frauds | flagged | precision | recall |",
        "|---|---|---|---|---|---|",
    ]
    for column, groups in segments.items():
        for value, g in sorted(groups.items(), key=lambda kv: -kv[1]["payments"]):
            p = "-" if g["precision"] is None else f"{g['precision']:.3f}"
            r = "-" if g["recall"] is None else f"{g['recall']:.3f}"
            lines.append(
                f"| {column}={value} | {g['payments']} | {g['frauds']} | "
                f"{g['flagged']} | {p} | {r} |"
            )
    lines += ["", "## Limits", *[f"- {x}" for x in LIMITS], ""]
    return "\n".join(lines)
