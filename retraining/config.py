"""What an automatic retraining run needs to know: trigger thresholds, windows, gate, training."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, model_validator

from models.config import TrainConfig, read_config_file
from models.triggers import TriggerConfig


class RetrainConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    triggers: TriggerConfig = TriggerConfig()
    drift_window_hours: float = Field(default=24.0, gt=0)  # recent scored payments for PSI
    drift_max_rows: int = Field(default=50_000, ge=1)
    performance_window_days: float = Field(default=7.0, gt=0)  # labelled decisions judged
    tolerance: float = Field(default=0.01, ge=0)  # promotion gate: AP may drop this much
    # the gate's last days of the new dataset; training leaves the same days out (never seen)
    holdout_days: int = Field(default=7, ge=1)
    max_segment_gap: float | None = Field(default=0.5, ge=0)  # recall gap, countries/channels
    min_segment_frauds: int = Field(default=30, ge=1)
    train: dict[str, Any] = Field(default_factory=dict)  # TrainConfig overrides
    expectations: Path | None = None  # the data gate's TOML (default models/expectations.toml)

    @model_validator(mode="after")
    def _one_holdout(self) -> RetrainConfig:
        """The gate window is the one training left out: two values would let them overlap."""
        other = self.train.get("holdout_days", self.holdout_days)
        if other != self.holdout_days:
            raise ValueError(
                f"train.holdout_days {other} differs from holdout_days {self.holdout_days}: "
                "set holdout_days only (training leaves out the days the gate judges on)"
            )
        return self

    @classmethod
    def load(cls, path: Path | None) -> RetrainConfig:
        if path is None:
            return cls()
        return cls.model_validate(read_config_file(path))

    def train_config(self) -> TrainConfig:
        return TrainConfig.model_validate({**self.train, "holdout_days": self.holdout_days})
