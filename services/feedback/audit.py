"""Decision audit: for a transaction id, what was decided, by which model, with which thresholds,
reasons and feature values; the score is recomputed from the logged features with that model
version, so the record proves itself (or shows that it cannot)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from sqlalchemy import select

from fraudops.features import FEATURE_NAMES
from models.registry import Registry, RegistryError
from models.runtime import load_scoring_model, reasons
from services.feedback import store
from services.feedback.db import ScoredTransaction, make_engine, session_factory


class NotScored(LookupError):
    pass


def explain_transaction(database_url: str, registry_root: Path, tx_id: str) -> dict[str, Any]:
    engine = make_engine(database_url)
    try:
        with session_factory(engine)() as s:
            row = s.scalar(
                select(ScoredTransaction).where(ScoredTransaction.transaction_id == tx_id)
            )
            if row is None:
                raise NotScored(tx_id)
            events = store.history(s, tx_id)
    finally:
        engine.dispose()
    features = json.loads(row.features)
    out: dict[str, Any] = {
        "transaction_id": tx_id,
        "timestamp": row.timestamp.isoformat(),
        "customer_id": row.customer_id,
        "terminal_id": row.terminal_id,
        "amount": str(row.amount),
        "currency": row.currency,
        "decision": row.decision,
        # with a rule set active: the rules that fired and the model's own decision
        "rules_version": row.rules_version,
        "rules_fired": json.loads(row.rules_fired) if row.rules_fired else [],
        "model_decision": row.model_decision or row.decision,
        "score": row.score,
        "model_version": row.model_version,
        "degraded": row.degraded,
        "scored_at": row.scored_at.isoformat(),
        "labels": [
            {
                "label": e.label,
                "source": e.source,
                "actor": e.actor,
                "arrived_at": e.arrived_at.isoformat(),
            }
            for e in events
        ],
    }
    effective = store.effective_of(events)
    out["effective_label"] = effective.label if effective else None
    try:
        model = load_scoring_model(Registry(registry_root), row.model_version)
    except (RegistryError, OSError, KeyError) as exc:
        out["model"] = f"model {row.model_version} not loadable here: {exc}"
        out["features"] = dict(zip(FEATURE_NAMES, features, strict=False))
        return out
    probs, contribs = model.score([features])
    out["thresholds"] = {"review": model.review, "decline": model.decline}
    out["recomputed_score"] = round(float(probs[0]), 6)
    out["reproduced"] = abs(float(probs[0]) - row.score) <= 1e-6
    out["reasons"] = [
        {"feature": r.feature, "value": r.value, "contribution": round(r.contribution, 6)}
        for r in reasons(features, contribs[0])
    ]
    out["features"] = {
        n: {"value": v, "contribution": round(float(c), 6)}
        for n, v, c in zip(FEATURE_NAMES, features, contribs[0], strict=True)
    }
    return out


def render(a: dict[str, Any]) -> str:
    lines = [
        f"transaction {a['transaction_id']}  {a['timestamp']}  customer {a['customer_id']}  "
        f"terminal {a['terminal_id']}  amount {a['amount']} {a['currency'] or ''}",
        f"decision {a['decision']}  score {a['score']:.6f}  model {a['model_version']}"
        f"{'  (DEGRADED: no profiles)' if a['degraded'] else ''}  scored {a['scored_at']}",
    ]
    if a.get("rules_version"):
        fired = ", ".join(a["rules_fired"]) or "none"
        lines.append(f"rule set {a['rules_version']}: fired {fired}; the model alone: "
                     f"{a['model_decision']}")  # fmt: skip
    if "thresholds" in a:
        t = a["thresholds"]
        decline = "never" if t["decline"] is None else f"{t['decline']:.6f}"
        lines.append(
            f"thresholds review >= {t['review']:.6f}, decline >= {decline}; "
            f"recomputed score {a['recomputed_score']:.6f} "
            f"({'reproduced' if a['reproduced'] else 'NOT reproduced'})"
        )
        lines.append(
            "top reasons: "
            + ", ".join(
                f"{r['feature']}={r['value']} ({r['contribution']:+.3f})" for r in a["reasons"]
            )
        )
        lines += [
            f"  {n:<34} {f['value']!s:>14}  {f['contribution']:+.4f}"
            for n, f in a["features"].items()
        ]
    else:
        lines.append(a["model"])
    labels = ", ".join(f"{e['source']} {e['label']} ({e['arrived_at']})" for e in a["labels"])
    lines.append(f"labels: {labels or 'none'}; effective: {a['effective_label'] or '-'}")
    return "\n".join(lines)
