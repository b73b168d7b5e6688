"""Settings of the model commands, from the environment (read when a command runs)."""

from __future__ import annotations

from pydantic import AliasChoices, Field
from pydantic_settings import SettingsConfigDict

from fraudops.settings import PathSettings


class ModelSettings(PathSettings):
    """The model and dataset directories, and the registry's and the gate's own settings."""

    model_config = SettingsConfigDict(env_prefix="FRAUDOPS_", extra="ignore")

    actor: str | None = None  # who the registry's decision log records (default: login name)
    commit: str | None = None  # code commit recorded in manifests (default: git rev-parse)
    gate_tolerance: float = 0.01  # allowed drop in average precision
    gate_max_segment_gap: float = 0.5  # negative: the segment check is off
    # promote --gate shadow judges the challenger only on at least this many labelled payments
    shadow_gate_min_labelled: int = Field(default=500, ge=1)
    mlflow_tracking_uri: str | None = Field(
        default=None, validation_alias=AliasChoices("MLFLOW_TRACKING_URI")
    )
    mlflow_experiment_name: str = Field(
        default="fraudops", validation_alias=AliasChoices("MLFLOW_EXPERIMENT_NAME")
    )
