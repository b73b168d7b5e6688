"""What the triggers look at, read from the registry, the datasets and the feedback database."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pandas as pd

from fraudops import datasets
from models.registry import Registry
from retraining.config import RetrainConfig
from services.feedback import monitoring, store
from services.feedback.db import make_engine, session_factory


@dataclass
class TriggerInputs:
    production: dict[str, Any] | None  # the production model's manifest
    new_label_count: int  # transactions whose effective label changed since ``labels_since``
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
            count = store.changed_labels_since(session, since)
            recent = monitoring.recent_scored(
                session, now - timedelta(hours=cfg.drift_window_hours), cfg.drift_max_rows
            )
            decisions = monitoring.labelled_decisions(
                session, now - timedelta(days=cfg.performance_window_days)
            )
    finally:
        engine.dispose()
    version = production["version"] if production else None
    return TriggerInputs(
        production, count, since, monitoring.drift_frame(recent, version), decisions
    )
