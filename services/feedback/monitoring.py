"""Live model monitoring from the scoring log and the labels: drift (PSI of every feature and of
the score against the production model's reference distributions, over a sliding window of
recent decisions) and live precision / recall / fraud rate of labelled decisions.

The same window queries feed the retraining triggers (retraining.inputs) and the console's
monitoring view (``GET /v1/monitoring``); the gauges feed Prometheus alert rules.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pandas as pd
from prometheus_client import Gauge
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from fraudops.features import FEATURE_NAMES
from models.registry import Registry, RegistryError
from models.triggers import TriggerConfig, performance, psi_by_feature
from services.feedback.db import EffectiveLabel, ScoredTransaction
from services.feedback.metrics import BACKGROUND_ERRORS

log = logging.getLogger("fraudops.feedback")
FEATURE_PSI = Gauge("fraudops_model_feature_psi", "PSI of a feature over the recent window",
                    ["feature"], multiprocess_mode="max")  # fmt: skip
SCORE_PSI = Gauge("fraudops_model_score_psi", "PSI of the production model's score",
                  multiprocess_mode="max")  # fmt: skip
PRECISION = Gauge("fraudops_model_live_precision",
                  "Share of flagged (review/decline) labelled decisions that were fraud",
                  multiprocess_mode="max")  # fmt: skip
RECALL = Gauge("fraudops_model_live_recall", "Share of labelled frauds that were flagged",
               multiprocess_mode="max")  # fmt: skip
FRAUD_RATE = Gauge("fraudops_model_live_fraud_rate", "Share of labelled decisions that were fraud",
                   multiprocess_mode="max")  # fmt: skip
WINDOW_ROWS = Gauge("fraudops_model_monitoring_rows", "Rows in the monitoring window", ["kind"],
                    multiprocess_mode="max")  # fmt: skip


def recent_scored(session: Session, since: datetime, limit: int) -> pd.DataFrame:
    """Feature vectors, score, model version, decision and time of the latest decisions."""
    rows = session.execute(
        select(ScoredTransaction.features, ScoredTransaction.score, ScoredTransaction.model_version,
               ScoredTransaction.decision, ScoredTransaction.scored_at)
        .where(ScoredTransaction.scored_at > since)
        .order_by(ScoredTransaction.scored_at.desc())
        .limit(limit)
    ).all()  # fmt: skip
    vectors = [json.loads(r[0]) for r in rows]
    # rows of another feature contract (an older model) cannot be compared feature by feature
    keep = [
        i for i, v in enumerate(vectors) if isinstance(v, list) and len(v) == len(FEATURE_NAMES)
    ]
    frame = pd.DataFrame([vectors[i] for i in keep], columns=FEATURE_NAMES)
    for j, col in enumerate(("score", "model_version", "decision", "scored_at"), start=1):
        frame[col] = [rows[i][j] for i in keep]
    return frame


def labelled_decisions(session: Session, since: datetime) -> pd.DataFrame:
    """The model's own decisions (not the rules') on labelled payments: the live precision that
    can trigger a retrain is the model's."""
    model = func.coalesce(ScoredTransaction.model_decision, ScoredTransaction.decision)
    rows = session.execute(
        select(model, EffectiveLabel.label)
        .join(EffectiveLabel)
        .where(ScoredTransaction.scored_at > since)
    ).all()
    return pd.DataFrame({"decision": [d for d, _ in rows],
                         "is_fraud": [int(lab == "fraud") for _, lab in rows]})  # fmt: skip


def drift_frame(recent: pd.DataFrame, production_version: str | None) -> pd.DataFrame:
    """Features of every recent row; the score only where the production model gave it."""
    out = recent[list(FEATURE_NAMES)].copy()
    out["score"] = recent["score"].where(recent["model_version"] == production_version)
    return out


@dataclass
class MonitorConfig:
    drift_window: timedelta = timedelta(hours=24)
    drift_max_rows: int = 50_000
    quality_window: timedelta = timedelta(days=7)


class Monitor:
    def __init__(self, sessions: sessionmaker[Session], model_dir: Path | None,
                 cfg: MonitorConfig | None = None) -> None:  # fmt: skip
        self.sessions, self.model_dir = sessions, model_dir
        self.cfg = cfg or MonitorConfig()
        self.last: dict[str, Any] = {}

    def _production(self) -> tuple[str | None, dict[str, Any] | None]:
        if self.model_dir is None:
            return None, None
        try:
            registry = Registry(self.model_dir)
            version = registry.aliases().get("production")
            return version, registry.manifest(version).get("reference") if version else None
        except (RegistryError, OSError, ValueError) as exc:  # no drift until it reads again
            BACKGROUND_ERRORS.labels("model_reference").inc()
            log.warning("production model reference unreadable: %s", type(exc).__name__)
            return None, None

    def run_once(self, now: datetime) -> dict[str, Any]:
        version, reference = self._production()
        with self.sessions() as session:
            recent = recent_scored(session, now - self.cfg.drift_window, self.cfg.drift_max_rows)
            labelled = labelled_decisions(session, now - self.cfg.quality_window)
        psis = psi_by_feature(reference, drift_frame(recent, version)) if reference else {}
        for feature, value in psis.items():
            (SCORE_PSI if feature == "score" else FEATURE_PSI.labels(feature)).set(value)
        quality = (
            performance(labelled, TriggerConfig(min_labelled=1)).extra if len(labelled) else {}
        )
        for gauge, key in ((PRECISION, "precision"), (RECALL, "recall")):
            if quality.get(key) is not None:
                gauge.set(quality[key])
        if len(labelled):
            FRAUD_RATE.set(quality["frauds"] / len(labelled))
        WINDOW_ROWS.labels("scored").set(len(recent))
        WINDOW_ROWS.labels("labelled").set(len(labelled))
        self.last = {
            "at": now.isoformat(),
            "model_version": version,
            "scored_rows": len(recent),
            "psi": {k: round(v, 4) for k, v in psis.items() if k != "score"},
            "score_psi": round(psis["score"], 4) if "score" in psis else None,
            "quality": quality,
            "timeline": timeline(recent),
        }
        return self.last


def timeline(recent: pd.DataFrame) -> list[dict[str, Any]]:
    """Decisions and mean score per hour of the window (oldest first), for the console."""
    if recent.empty:
        return []
    hour = pd.to_datetime(recent["scored_at"], utc=True).dt.floor("h")
    counts = pd.crosstab(hour, recent["decision"])
    mean = recent.groupby(hour)["score"].mean()
    return [{"hour": h.isoformat(), "mean_score": round(float(mean[h]), 4),
             **{d: int(counts.loc[h].get(d, 0)) for d in ("approve", "review", "decline")}}
            for h in counts.index.sort_values()]  # fmt: skip
