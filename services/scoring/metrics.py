"""The scoring service's Prometheus metrics."""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

from services.common.metrics import LATENCY_BUCKETS

REQUEST_SECONDS = Histogram(
    "fraudops_scoring_request_seconds",
    "Time to answer a score request (server side)",
    ["endpoint"],
    buckets=LATENCY_BUCKETS,
)
STAGE_SECONDS = Histogram(
    "fraudops_scoring_stage_seconds",
    "Time per stage: profiles (the Redis round trip that reads and updates), features, model; "
    "write_batch: one background write of queued answers",
    ["stage"],
    buckets=LATENCY_BUCKETS,
)
DECISIONS = Counter("fraudops_scoring_decisions_total", "Decisions", ["decision", "degraded"])
SCORES = Histogram(
    "fraudops_scoring_score",
    "Scores answered",
    buckets=tuple(round(0.05 * i, 2) for i in range(1, 21)),
)
DEGRADED = Counter("fraudops_scoring_degraded_total", "Answers without profiles", ["reason"])
ERRORS = Counter("fraudops_scoring_errors_total", "Requests answered with an error", ["kind"])
DUPLICATES = Counter("fraudops_scoring_duplicates_total", "Repeated transaction ids answered")
REPLAY_PENDING = Gauge(
    "fraudops_scoring_replay_pending",
    "Degraded payments waiting to be counted in Redis",
    multiprocess_mode="livesum",
)
REPLAYED = Counter("fraudops_scoring_replayed_total", "Degraded payments counted after recovery")
REPLAY_DROPPED = Counter("fraudops_scoring_replay_dropped_total", "Replay buffer overflow")
MODEL_INFO = Gauge(
    "fraudops_scoring_model_info",
    "The model version serving (value 1)",
    ["version"],
    multiprocess_mode="liveall",
)
MODEL_SWAPS = Counter("fraudops_scoring_model_swaps_total", "Model hot-swaps")
LOG_DROPPED = Counter(
    "fraudops_scoring_log_dropped_total",
    "Scoring-log entries dropped because Redis stayed away longer than the buffer lasts",
)
CLUSTER_REDIRECTS = Counter(
    "fraudops_scoring_cluster_redirects_total",
    "Redis Cluster redirections followed (moved: slot map changed; ask: slot migrating; "
    "tryagain: a multi-key unit during a migration); refreshes: slot maps fetched",
    ["kind"],
)
SHADOW_SCORED = Counter(
    "fraudops_scoring_shadow_scored_total",
    "Payments scored by the challenger model after their answer (shadow scoring)",
)
SHADOW_SKIPPED = Counter(
    "fraudops_scoring_shadow_skipped_total",
    "Payments the challenger did not score: its CPU budget (shadow_max_share) was spent",
)
SHADOW_SECONDS = Histogram(
    "fraudops_scoring_shadow_seconds",
    "Time of one challenger model call over a chunk of logged payments",
    buckets=LATENCY_BUCKETS,
)
RULE_HITS = Counter(
    "fraudops_scoring_rule_hits_total",
    "Payments on which a rule of the active rule set fired (its action may not be the decision: "
    "an allow rule or the model may have won, see docs/rules.md); each worker adds its hits "
    "once per poll interval (FRAUDOPS_SCORING_MODEL_POLL_S)",
    ["rule"],
)
RULES_INFO = Gauge(
    "fraudops_scoring_rules_info",
    "The rule set version active (value 1)",
    ["version"],
    multiprocess_mode="liveall",
)
RULES_SWAPS = Counter("fraudops_scoring_rules_swaps_total", "Rule set versions swapped in")
