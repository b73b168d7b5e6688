"""What the triggers look at, read from the registry, the datasets and the feedback database."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pandas as pd
from sqlalchemy import select

from fraudops import datasets
from fraudops.features import FEATURE_NAMES
from models.registry import Registry
from retraining.config import RetrainConfig
from services.feedback import store
from services.feedback.db import EffectiveLabel, ScoredTransaction, make_engine, session_factory


@dataclass
class TriggerInputs:
    production: dict[str, Any] | None  # the production model's manifest
    new_label_count: int
    labels_since: datetime | None
    recent: pd.DataFrame  # features (+ score of the production model) of recent payments
    decisions: pd.DataFrame  # decision, is_fraud of recent labelled payments


def production_manifest(registry: Registry) -> dict[str, Any] | None:
    version = registry.aliases().get("production")
    return {**registry.manifest(version), "version": version} if version else None


def labels_cutoff_of(production: dict[str, Any] | None, datasets_root: Path) -> datetime | None:
    """Feedback labels after this are new to production: its dataset's label cut-off; None (all
    are new) when that dataset took no feedback; the model's birth if the dataset is gone."""
    if production is None:
        return None
    ds = production.get("dataset") or {}
    root = Path(ds.get("root") or datasets_root)
    try:
        manifest = datasets.read_manifest(root, ds["version"])
    except (KeyError, datasets.DatasetError):
        return datetime.fromisoformat(production["created_at"])
    cutoff = manifest.get("label_cutoff")
    if "feedback" not in manifest or cutoff is None:
        return None
    return datetime.fromtimestamp(int(cutoff), UTC)


def gather(
    registry: Registry, datasets_root: Path, database_url: str, cfg: RetrainConfig, now: datetime
) -> TriggerInputs:
    production = production_manifest(registry)
    since = labels_cutoff_of(production, datasets_root)
    engine = make_engine(database_url)
    try:
        with session_factory(engine)() as session:
            count = store.labels_since(session, since)
            recent_rows = session.execute(
                select(ScoredTransaction.features, ScoredTransaction.score,
                       ScoredTransaction.model_version)
                .where(ScoredTransaction.scored_at > now - timedelta(hours=cfg.drift_window_hours))
                .order_by(ScoredTransaction.scored_at.desc())
                .limit(cfg.drift_max_rows)
            ).all()  # fmt: skip
            labelled = session.execute(
                select(ScoredTransaction.decision, EffectiveLabel.label)
                .join(EffectiveLabel)
                .where(
                    ScoredTransaction.scored_at > now - timedelta(days=cfg.performance_window_days)
                )
            ).all()
    finally:
        engine.dispose()
    recent = pd.DataFrame([json.loads(r[0]) for r in recent_rows], columns=FEATURE_NAMES)
    if production is not None:  # another model's scores say nothing about this one's drift
        recent["score"] = [s if v == production["version"] else None
                           for _, s, v in recent_rows]  # fmt: skip
    decisions = pd.DataFrame(
        {
            "decision": [d for d, _ in labelled],
            "is_fraud": [int(lab == "fraud") for _, lab in labelled],
        }
    )
    return TriggerInputs(production, count, since, recent, decisions)
