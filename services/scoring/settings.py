"""Scoring service settings, from the environment (keys and URLs never live in the repo)."""

from __future__ import annotations

from pathlib import Path

from pydantic import AliasChoices, Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from fraudops.profile_store.commands import StoreConfig
from fraudops.settings import CoreSettings


class ScoringSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="FRAUDOPS_SCORING_", extra="ignore")

    # JSON list of {name, sha256, scopes}; see services.common.auth
    api_keys: str = Field(
        default="[]",
        validation_alias=AliasChoices("FRAUDOPS_SCORING_API_KEYS", "FRAUDOPS_API_KEYS"),
    )
    model_dir: Path = Field(
        default=Path("data/models"),
        validation_alias=AliasChoices("FRAUDOPS_MODEL_DIR", "FRAUDOPS_SCORING_MODEL_DIR"),
    )
    model_alias: str = "production"
    model_poll_s: float = Field(default=1.0, gt=0)
    # Redis time budget per request: past it the answer is degraded, never late
    redis_budget_ms: float = Field(default=50.0, gt=0)
    batch_redis_budget_ms: float = Field(default=250.0, gt=0)
    # after Redis refused a connection (or 3 timeouts in a row), skip it this long (no waits)
    breaker_s: float = Field(default=0.5, ge=0)
    # degraded payments kept to be counted in the profiles once Redis is back
    replay_capacity: int = Field(default=100_000, ge=0)
    # how long a concurrent duplicate waits for the first answer of the same transaction
    duplicate_wait_ms: float = Field(default=200.0, ge=0)
    # the scoring log (Redis Stream for the feedback and alerts services): approximate cap on
    # unconsumed entries (~0.8 KB each); 0 turns the log off
    log_maxlen: int = Field(default=1_000_000, ge=0)
    # stored answers and log entries are written in one batch at most this long after the
    # answer went out (a duplicate arriving sooner waits for it, up to duplicate_wait_ms)
    write_every_ms: float = Field(default=2.0, gt=0, le=100)
    # a payment dated further ahead of the server clock is refused (422): a far-future event
    # would prune the entity's minute and hour buckets at its own time and wipe its velocity
    max_ahead_s: float = Field(default=300.0, gt=0)
    max_body_bytes: int = Field(default=1_048_576, gt=0)
    max_batch: int = Field(default=1000, ge=1)
    # requests per API key per rate_limit_window_s (a batch is one request); 0: no limit.
    # rate_limit_keys: JSON {"<key name>": <limit>} overriding it per key (0: that key unlimited)
    rate_limit_per_key: int = Field(default=0, ge=0)
    rate_limit_window_s: float = Field(default=1.0, gt=0)
    rate_limit_keys: str = "{}"
    # a worker takes up to this share of a key's limit from Redis at once and spends it without
    # a round trip (docs/scoring.md: exact to workers x share of the limit); 0: ask every time
    rate_limit_lease_share: float = Field(default=0.01, ge=0, le=0.1)

    # shadow scoring: the share of a worker's time the registry's ``challenger`` model may take
    # (it scores logged payments after their answer); past it payments are skipped and counted.
    # 0 turns shadow scoring off
    shadow_max_share: float = Field(default=0.25, ge=0, le=1)
    # /readyz answers 503 while Redis is unreachable (true), or 200 with redis: false (false: the
    # default, a Redis outage must not take every replica out of the load balancer at once)
    ready_needs_redis: bool = False

    # the fraud team's rules (docs/rules.md): the rule registry's active set, applied after the
    # model; false: the model alone decides
    rules: bool = True

    def store(self) -> tuple[str, StoreConfig, bool, int]:
        """The profile store: its URL, its layout, whether the URL names a Redis Cluster, and the
        scoring log's shards."""
        core = CoreSettings()
        return core.redis_url, StoreConfig.from_settings(core), core.redis_cluster, core.log_shards
