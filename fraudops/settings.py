"""Core settings, from the environment (secrets never live in the repo)."""

from __future__ import annotations

from pathlib import Path

from pydantic import AliasChoices, Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict


class PathSettings(BaseSettings):
    """Where dataset, model and rule-set versions live: every command's default. Apart, so that a
    command that needs only these is not refused for another setting it does not use."""

    model_config = SettingsConfigDict(env_prefix="FRAUDOPS_", extra="ignore")

    dataset_dir: Path = Path("data/datasets")
    model_dir: Path = Path("data/models")
    rules_dir: Path | None = None  # rule-set versions; default: "rules" beside model_dir

    def rules_root(self) -> Path:
        return self.rules_dir if self.rules_dir is not None else self.model_dir.parent / "rules"


class CoreSettings(PathSettings):
    """Where the profile store lives and how long its entries are kept."""

    model_config = SettingsConfigDict(env_prefix="FRAUDOPS_", extra="ignore")

    redis_url: str = Field(
        default="redis://127.0.0.1:6379/0",
        validation_alias=AliasChoices("REDIS_URL", "FRAUDOPS_REDIS_URL"),
    )
    database_url: str = Field(
        default="sqlite:///fraudops.db",
        validation_alias=AliasChoices("DATABASE_URL", "FRAUDOPS_DATABASE_URL"),
    )
    # REDIS_URL names one node of a Redis Cluster (any one: the others are found from it)
    redis_cluster: bool = Field(
        default=False,
        validation_alias=AliasChoices("REDIS_CLUSTER", "FRAUDOPS_REDIS_CLUSTER"),
    )
    key_prefix: str = Field(default="fo", pattern=r"^[A-Za-z0-9_.-]{1,32}$")
    # streams of the scoring log (per customer; spread over a cluster's masters); every service
    # of a deployment must be given the same number (services/common/scoring_log.py)
    log_shards: int = Field(default=1, ge=1, le=1024)
    # Wall-clock retention of Redis entries (feature windows are on transaction time).
    profile_ttl_s: int = Field(default=120 * 86400, ge=0)
    dedup_ttl_s: int = Field(default=7 * 86400, gt=0)
    label_state_ttl_s: int = Field(default=60 * 86400, gt=0)
    redis_timeout_s: float = Field(default=0.05, gt=0)
    # keys the pseudonyms in the erasure ledger (fraudops.pseudonyms): at least 32 bytes
    erasure_key: SecretStr | None = None


def secret(value: SecretStr | None) -> str | None:
    return value.get_secret_value() if value is not None else None
