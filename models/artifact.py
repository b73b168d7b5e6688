"""Writing a trained model into the registry and loading it back, feature contract checked."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import catboost
import numpy as np
import pandas as pd
from catboost import CatBoostClassifier

from fraudops import versioned
from fraudops.features import CATEGORICAL_FEATURES, contract_fields
from models import model_card
from models.experiments import CURVES
from models.explain import TreeExplainer
from models.registry import (
    EXPLAINER_FILE,
    MODEL_CARD,
    MODEL_FILE,
    VALIDATION_FILE,
    Registry,
    check_contract,
    code_commit,
)
from models.segments import segment_metrics
from models.training import FEATURES, TrainResult, predict

KEEP_COLUMNS = ["transaction_id", "timestamp", "customer_id", "terminal_id", "is_fraud"]


@dataclass
class LoadedModel:
    version: str
    model: CatBoostClassifier
    manifest: dict[str, Any]

    @property
    def thresholds(self) -> dict[str, Any]:
        return dict(self.manifest["thresholds"])

    def score(self, frame: pd.DataFrame) -> np.ndarray:
        return predict(self.model, frame)


def _time_range(frame: pd.DataFrame) -> dict[str, str]:
    return {
        "start": frame["timestamp"].min().isoformat(),
        "end": frame["timestamp"].max().isoformat(),
    }


def save(
    registry: Registry,
    result: TrainResult,
    dataset: dict[str, Any],
    config: dict[str, Any],
    command: str = "",
) -> str:
    """Write model, validation rows and manifest to staging and register them as candidate."""
    staging = versioned.new_staging(registry.root)
    try:
        result.model.save_model(str(staging / MODEL_FILE))
        digest = hashlib.sha256((staging / MODEL_FILE).read_bytes()).hexdigest()
        cat_indexes = [FEATURES.index(c) for c in CATEGORICAL_FEATURES]
        explainer = TreeExplainer.build(result.model, len(FEATURES), cat_indexes)
        explainer.save(staging / EXPLAINER_FILE)
        extra = [c for c in ("fraud_scenario",) if c in result.valid.columns]
        valid = result.valid[[*KEEP_COLUMNS, *FEATURES, *extra]].assign(score=result.valid_scores)
        valid.to_parquet(staging / VALIDATION_FILE, index=False)
        (staging / CURVES).write_text(json.dumps(result.curves))
        manifest = {
            "kind": "catboost-classifier",
            "model_file": MODEL_FILE,
            "model_sha256": digest,
            "explainer_file": EXPLAINER_FILE,
            "dataset": {
                "version": dataset.get("version"),
                "content_hash": dataset.get("content_hash"),
                "root": dataset.get("root"),
                "rows": dataset.get("rows"),
            },
            **contract_fields(),
            "config": config,
            "params": {k: v for k, v in result.model.get_params().items() if k != "cat_features"},
            "imbalance": result.imbalance,
            "best_iteration": int(result.model.get_best_iteration() or 0),
            "tree_count": int(result.model.tree_count_),
            "candidates": result.candidates,
            "metrics": {"validation": result.metrics},
            "thresholds": result.thresholds,
            "reference": result.reference,
            "train": {"rows": len(result.train), **_time_range(result.train)},
            "validation": {"rows": len(result.valid), **_time_range(result.valid)},
            "windows": result.windows,
            "training_seconds": round(result.seconds, 2),
            "catboost_version": catboost.__version__,
            "code_commit": code_commit(),
            "command": command,
        }
        segments = segment_metrics(result.valid, result.valid_scores, result.thresholds)
        manifest["segments"] = segments
        (staging / MODEL_CARD).write_text(model_card.render(manifest, segments))
        return registry.register(staging, manifest)
    except BaseException:
        versioned.discard(staging)
        raise


def load(registry: Registry, ref: str) -> LoadedModel:
    """Load a version or alias; refuses a model built for another feature contract."""
    version = registry.resolve(ref)
    manifest = registry.manifest(version)
    check_contract(manifest)
    path: Path = registry.root / version / manifest.get("model_file", MODEL_FILE)
    model = CatBoostClassifier()
    model.load_model(str(path))
    return LoadedModel(version, model, manifest)


def validation_frame(registry: Registry, version: str) -> pd.DataFrame:
    return pd.read_parquet(registry.path(version) / VALIDATION_FILE)
