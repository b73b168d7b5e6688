"""The feedback service's Prometheus metrics."""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

from services.common.metrics import LATENCY_BUCKETS

REQUEST_SECONDS = Histogram(
    "fraudops_feedback_request_seconds", "Time to answer", ["endpoint"], buckets=LATENCY_BUCKETS
)
LABELS = Counter(
    "fraudops_feedback_labels_total", "Labels received", ["source", "label", "outcome"]
)
ERRORS = Counter("fraudops_feedback_errors_total", "Requests answered with an error", ["kind"])
LOG_INGESTED = Counter("fraudops_feedback_scoring_log_ingested_total", "Scoring-log entries stored")
LOG_MALFORMED = Counter("fraudops_feedback_scoring_log_malformed_total", "Unreadable log entries")
LOG_BACKLOG = Gauge(
    "fraudops_feedback_scoring_log_backlog",
    "Scoring-log entries not yet stored (stream lag of the consumer group)",
    multiprocess_mode="max",
)
PROFILE_PENDING = Gauge(
    "fraudops_feedback_profile_labels_pending",
    "Effective labels the Redis profiles have not received yet",
    multiprocess_mode="max",
)
PROFILE_APPLIED = Counter(
    "fraudops_feedback_profile_labels_applied_total", "Labels applied to the profile store"
)
BACKGROUND_ERRORS = Counter(
    "fraudops_feedback_background_errors_total",
    "Background steps that failed and were left for a later turn (their dependency away)",
    ["task"],
)
