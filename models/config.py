"""Training configuration: defaults here, overrides from a TOML or JSON file (``--config``)."""

from __future__ import annotations

import json
import tomllib
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

Imbalance = Literal["none", "SqrtBalanced", "Balanced"]


def read_config_file(path: Path) -> dict[str, Any]:
    """A TOML (``.toml``) or JSON file's content, for a pydantic config model."""
    text = path.read_text()
    data = tomllib.loads(text) if path.suffix == ".toml" else json.loads(text)
    if not isinstance(data, dict):
        raise ValueError(f"{path}: expected a table/object at the top level")
    return data


class TrainConfig(BaseModel):
    """Everything that decides a model besides its dataset; stored in the model's manifest."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    seed: int = 0
    # one fixed thread count keeps CatBoost's result identical run to run
    thread_count: int = Field(default=2, ge=1)
    iterations: int = Field(default=1000, ge=1)
    learning_rate: float = Field(default=0.05, gt=0, le=1)
    depth: int = Field(default=6, ge=1, le=8)  # the explainer tabulates 2^depth leaves per tree
    # 1: CTRs of single categorical features only, so reasons equal CatBoost's own SHAP values
    max_ctr_complexity: int = Field(default=1, ge=1, le=4)
    l2_leaf_reg: float = Field(default=3.0, ge=0)
    early_stopping_rounds: int = Field(default=100, ge=1)
    eval_metric: str = "PRAUC"
    # time-ordered split (models/windows.py): train | gap | tune | gate, last days last.
    # the last ``holdout_days`` are never seen: the promotion gate judges on them
    holdout_days: int = Field(default=7, ge=0)
    # the ``validation_days`` before them tune (early stopping, class weights, thresholds)
    validation_days: int = Field(default=7, ge=1)
    # days left out between train and tune (labels of the last days may not be known)
    gap_days: int = Field(default=0, ge=0)
    # class-imbalance handling: each candidate is trained, validation average precision picks
    imbalance_candidates: tuple[Imbalance, ...] = ("none", "SqrtBalanced", "Balanced")
    # thresholds: how many reviews a day the fraud team can handle, and how precise an
    # automatic decline must be (no threshold meets it: the model never declines)
    review_budget_per_day: float = Field(default=100.0, gt=0)
    decline_precision: float = Field(default=0.9, gt=0, le=1)
    min_decline_support: int = Field(default=10, ge=1)
    progress_every: int = Field(default=100, ge=0)

    @classmethod
    def load(cls, path: Path | None) -> TrainConfig:
        if path is None:
            return cls()
        return cls.model_validate(read_config_file(path))

    def catboost_params(self, imbalance: Imbalance) -> dict[str, object]:
        params: dict[str, object] = {
            "iterations": self.iterations,
            "learning_rate": self.learning_rate,
            "depth": self.depth,
            "max_ctr_complexity": self.max_ctr_complexity,
            "l2_leaf_reg": self.l2_leaf_reg,
            "random_seed": self.seed,
            "thread_count": self.thread_count,
            "eval_metric": self.eval_metric,
            # learning curves: validation AUC per iteration too (the train side is skipped)
            "custom_metric": ["AUC:hints=skip_train~true"],
            "loss_function": "Logloss",
            "allow_writing_files": False,
        }
        if imbalance != "none":
            params["auto_class_weights"] = imbalance
        return params
