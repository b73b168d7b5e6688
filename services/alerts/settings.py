"""Alerts service settings, from the environment (webhook URLs, SMTP passwords, analyst password
hashes and the session secret never live in the repo)."""

from __future__ import annotations

from pydantic import AliasChoices, Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


class AlertsSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="FRAUDOPS_ALERTS_", extra="ignore")

    # --- rules: every review/decline decision of at least this score and amount is an alert
    min_score: float = Field(default=0.0, ge=0, le=1)
    min_amount: float = Field(default=0.0, ge=0)
    high_score: float = Field(default=0.9, ge=0, le=1)  # tag high_score, severity page
    large_amount: float = Field(default=5_000.0, gt=0)  # tag large_amount
    burst_count: int = Field(default=3, ge=2)  # this many alerts of one customer/terminal ...
    burst_window_s: float = Field(default=3600.0, gt=0)  # ... within this window: burst
    dedup_window_s: float = Field(default=900.0, ge=0)  # one notification per customer per window

    # --- channels (a channel without its settings is off)
    webhook_url: SecretStr | None = None  # Slack-compatible incoming webhook: a credential
    smtp_host: str | None = None
    smtp_port: int = 25
    smtp_username: str | None = None
    smtp_password: SecretStr | None = None
    smtp_starttls: bool = False
    smtp_timeout_s: float = Field(default=10.0, gt=0)
    email_from: str = "fraudops-alerts@localhost"
    email_to: list[str] = Field(default_factory=list)
    webhook_timeout_s: float = Field(default=5.0, gt=0)
    max_attempts: int = Field(default=5, ge=1)
    backoff_s: float = Field(default=0.5, ge=0)  # doubled per attempt, at most backoff_max_s
    backoff_max_s: float = Field(default=30.0, ge=0)
    # --- delivery queue: each channel's worker takes its due pending deliveries one by one; a
    # taken one is leased (a process killed mid-attempt: tried again after the lease)
    delivery_lease_s: float = Field(default=120.0, gt=0)
    delivery_poll_s: float = Field(default=1.0, gt=0)  # for work queued by other processes
    # dead letters wait in the outbox table while Redis is away; a published one's id is kept
    # this long in Redis so a publish repeated (a crash before the row's delete) adds nothing
    outbox_dedup_ttl_s: int = Field(default=7 * 86400, ge=60)

    # --- stream consumer
    consumer_group: str = "alerts"
    batch: int = Field(default=100, ge=1)
    block_ms: int = Field(default=1000, ge=1)
    claim_idle_ms: int = Field(default=30_000, ge=0)

    # --- console: analysts [{"username", "password_hash"}] (``fraudops keys analyst``)
    analysts: str = "[]"
    session_secret: SecretStr | None = Field(default=None, min_length=32)
    session_max_age_s: int = Field(default=8 * 3600, gt=0)
    secure_cookies: bool = False  # true behind HTTPS
    # login throttling (docs/alerts.md): failures per username / per client address until
    # login_window_s pass without one; then locked for login_lock_s, doubled per further failure
    login_max_failures: int = Field(default=5, ge=1)
    login_max_failures_per_address: int = Field(default=50, ge=1)
    login_window_s: float = Field(default=900.0, gt=0)
    login_lock_s: float = Field(default=60.0, gt=0)
    login_lock_max_s: float = Field(default=900.0, gt=0)
    # password verifications (PBKDF2) at once per process, and how many more may wait
    login_concurrency: int = Field(default=1, ge=1, le=16)
    login_queue: int = Field(default=8, ge=0)
    # the feedback service, for analyst labels and the monitoring view; its key needs the
    # scopes label:analyst, label:on-behalf and monitoring
    feedback_url: str = "http://127.0.0.1:8001"
    feedback_api_key: SecretStr | None = None
    # API keys (hashed) for Alertmanager's webhook (scope alertmanager)
    api_keys: str = Field(
        default="[]",
        validation_alias=AliasChoices("FRAUDOPS_ALERTS_API_KEYS", "FRAUDOPS_API_KEYS"),
    )
    max_body_bytes: int = Field(default=1_048_576, gt=0)
    public_url: str = "http://127.0.0.1:8002"  # where the console is reached (links in alerts)

    @model_validator(mode="after")
    def _lease_outlasts_an_attempt(self) -> AlertsSettings:
        """A lease shorter than an attempt lets a second worker send the same message."""
        timeouts = [self.webhook_timeout_s] if self.webhook_url else []
        timeouts += [self.smtp_timeout_s] if self.smtp_host else []
        if self.delivery_lease_s <= max(timeouts, default=0):
            raise ValueError(
                "delivery_lease_s must exceed the channels' webhook_timeout_s and smtp_timeout_s"
            )
        return self
