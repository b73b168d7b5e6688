"""Feedback service settings, from the environment (keys, secrets and URLs stay out of the repo)."""

from __future__ import annotations

from pathlib import Path

from pydantic import AliasChoices, Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict


class FeedbackSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="FRAUDOPS_FEEDBACK_", extra="ignore")

    # JSON list of {name, sha256, scopes}; scopes label:analyst, label:chargeback, labels:read
    api_keys: str = Field(
        default="[]",
        validation_alias=AliasChoices("FRAUDOPS_FEEDBACK_API_KEYS", "FRAUDOPS_API_KEYS"),
    )
    # HS256 secret shared with the banking app's backend, which issues the in-app user tokens
    token_secret: SecretStr | None = Field(default=None, min_length=32)
    max_body_bytes: int = Field(default=16_384, gt=0)
    # rate limits on POST /v1/feedback (429 + Retry-After past them; 0: no limit): label answers
    # per card holder (user token) per rate_limit_user_window_s, labels per API key per
    # rate_limit_window_s, and rate_limit_keys: JSON {"<key name>": <limit>} overriding it per key
    rate_limit_per_user: int = Field(default=10, ge=0)
    rate_limit_user_window_s: float = Field(default=60.0, gt=0)
    rate_limit_per_key: int = Field(default=0, ge=0)
    rate_limit_window_s: float = Field(default=60.0, gt=0)
    rate_limit_keys: str = "{}"
    # background work: scoring log -> SQL, effective labels -> Redis profiles
    sync_every_s: float = Field(default=0.5, gt=0)
    ingest_batch: int = Field(default=1000, ge=1)
    consumer_group: str = "feedback"
    redis_timeout_s: float = Field(default=1.0, gt=0)
    # model monitoring: the production model's reference distributions come from the registry
    model_dir: Path | None = Field(
        default=Path("data/models"),
        validation_alias=AliasChoices("FRAUDOPS_MODEL_DIR", "FRAUDOPS_FEEDBACK_MODEL_DIR"),
    )
    monitor_every_s: float = Field(default=30.0, gt=0)
    drift_window_hours: float = Field(default=24.0, gt=0)
    quality_window_days: float = Field(default=7.0, gt=0)
    # retention of the scoring log (stream and database, with the labels): 0 keeps it for ever
    scoring_log_retention_days: float = Field(default=400.0, ge=0)
    retention_every_s: float = Field(default=3600.0, gt=0)
