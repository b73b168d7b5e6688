"""The model as the scoring service uses it: probability, decision and reasons for feature rows.

Light on purpose (CatBoost + numpy + the registry; no scikit-learn, no plotting) so the scoring
image stays small. Loading checks the feature contract and refuses a model built for another.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from catboost import CatBoostClassifier

from fraudops.features import CATEGORICAL_FEATURES, FEATURE_NAMES
from models.explain import TreeExplainer
from models.registry import EXPLAINER_FILE, MODEL_FILE, Registry, check_contract

CAT_INDEXES = [FEATURE_NAMES.index(c) for c in CATEGORICAL_FEATURES]
APPROVE, REVIEW, DECLINE = "approve", "review", "decline"


@dataclass(frozen=True)
class Reason:
    feature: str
    value: Any
    contribution: float


@dataclass
class ScoringModel:
    version: str
    manifest: dict[str, Any]
    explainer: TreeExplainer
    review: float
    decline: float | None

    def score(self, rows: list[list[Any]]) -> tuple[np.ndarray, np.ndarray]:
        """(probabilities, per-feature log-odds contributions) for rows in contract order."""
        return self.explainer.explain(rows)

    def probabilities(self, rows: list[list[Any]]) -> np.ndarray:
        """The probabilities alone (no reasons): what a shadow challenger needs, half the cost."""
        return self.explainer.probabilities(rows)

    def decide(self, score: float, degraded: bool = False) -> str:
        """Thresholds from the manifest; a degraded answer is never an automatic decline."""
        if self.decline is not None and score >= self.decline and not degraded:
            return DECLINE
        return REVIEW if score >= self.review else APPROVE


def reasons(row: list[Any], contributions: np.ndarray, top: int = 3) -> list[Reason]:
    """The features that raised the score most (largest log-odds contributions first)."""
    order = np.argsort(-contributions, kind="stable")[:top]
    return [Reason(FEATURE_NAMES[i], row[i], float(contributions[i])) for i in order]


def load_scoring_model(registry: Registry, ref: str = "production") -> ScoringModel:
    version = registry.resolve(ref)
    manifest = registry.manifest(version)
    check_contract(manifest)
    path: Path = registry.root / version
    model = CatBoostClassifier()
    model.load_model(str(path / manifest.get("model_file", MODEL_FILE)))
    tables = path / manifest.get("explainer_file", EXPLAINER_FILE)
    if tables.exists():
        explainer = TreeExplainer.load(model, CAT_INDEXES, tables)
    else:  # a model registered before explainer tables were stored
        explainer = TreeExplainer.build(model, len(FEATURE_NAMES), CAT_INDEXES)
    thresholds = manifest["thresholds"]
    decline = thresholds.get("decline")
    review = float(thresholds["review"])
    return ScoringModel(
        version, manifest, explainer, review, None if decline is None else float(decline)
    )
