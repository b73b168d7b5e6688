"""The alerts service's Prometheus metrics."""

from __future__ import annotations

from prometheus_client import Counter, Gauge

ALERTS = Counter("fraudops_alerts_raised_total", "Alerts raised from decisions", ["severity"])
GROUPED = Counter("fraudops_alerts_grouped_total", "Alerts folded into an earlier one (dedup)")
DELIVERIES = Counter(
    "fraudops_alerts_deliveries_total", "Deliveries by channel and outcome", ["channel", "status"]
)
DEAD = Counter("fraudops_alerts_dead_letters_total", "Deliveries given up (dead-letter stream)")
OPERATIONAL = Counter(
    "fraudops_alerts_alertmanager_total", "Alertmanager alerts received", ["status"]
)
MALFORMED = Counter("fraudops_alerts_malformed_total", "Unreadable scoring-log entries")
ERRORS = Counter("fraudops_alerts_errors_total", "Requests answered with an error", ["kind"])
LAG = Gauge("fraudops_alerts_consumer_lag", "Decisions not yet handled", multiprocess_mode="max")
LABELS = Counter("fraudops_alerts_console_labels_total", "Labels given in the console", ["label"])
PENDING = Gauge(
    "fraudops_alerts_deliveries_pending",
    "Deliveries queued and not yet sent or given up, by channel",
    ["channel"],
    multiprocess_mode="max",
)
OUTBOX = Gauge(
    "fraudops_alerts_outbox_backlog",
    "Dead letters waiting in the outbox for Redis",
    multiprocess_mode="max",
)
LOGIN_THROTTLED = Counter(
    "fraudops_alerts_login_throttled_total",
    "Console logins refused untried: user or address locked (429), verifier busy (503)",
    ["reason"],
)
VERIFYING = Gauge(
    "fraudops_alerts_login_verifications",
    "Password verifications running",
    multiprocess_mode="livesum",
)
VERIFYING_PEAK = Gauge(
    "fraudops_alerts_login_verifications_peak",
    "Most password verifications ever running at once in a process",
    multiprocess_mode="max",
)
