"""The feedback service's background work: one thread that moves the scoring log into SQL and
pending labels into the profile store, and runs the periodic tasks (model monitor, retention).

Every step is best effort: its dependency (Redis, the database, the registry) may be away, and
the next turn retries. A failed step is never silent: it is logged by task and exception type
(no payload, so no card holder data) and counted in ``fraudops_feedback_background_errors_total``.
"""

from __future__ import annotations

import logging
import os
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import NamedTuple

from sqlalchemy.orm import Session, sessionmaker

from fraudops.profile_store.client import ProfileStore
from fraudops.profile_store.commands import StoreConfig
from fraudops.redis_clients import SyncClient
from fraudops.settings import CoreSettings
from services.common.worker import Worker
from services.feedback.ingest import ScoringLogIngestor
from services.feedback.metrics import BACKGROUND_ERRORS
from services.feedback.monitoring import Monitor, MonitorConfig
from services.feedback.profiles import ProfileLabelSync
from services.feedback.retention import purge_scoring_log
from services.feedback.settings import FeedbackSettings

log = logging.getLogger("fraudops.feedback")
Clock = Callable[[], datetime]
Step = Callable[[], object]

# the ``task`` label of BACKGROUND_ERRORS
INGEST, PROFILE_SYNC, MONITOR, RETENTION = "scoring_log", "profile_sync", "monitor", "retention"


class Periodic(NamedTuple):
    task: str
    every_s: float
    step: Step


def attempt(task: str, step: Step) -> bool:
    """Run ``step``; a failure is logged and counted, not raised (the caller degrades)."""
    try:
        step()
    except Exception as exc:  # any dependency failure: retried by a later turn
        BACKGROUND_ERRORS.labels(task).inc()
        log.warning("background task %s failed: %s", task, type(exc).__name__)
        return False
    return True


def background_turn(
    ingestor: ScoringLogIngestor, sync: ProfileLabelSync, periodic: list[Periodic]
) -> Callable[[], None]:
    """One turn of the background thread: scoring log -> SQL, pending labels -> Redis, and each
    of ``periodic`` when due; each step fails alone (its dependency away)."""
    due = [0.0] * len(periodic)

    def turn() -> None:
        steps: list[tuple[str, Step]] = [(INGEST, ingestor.drain), (PROFILE_SYNC, sync.run_once)]
        for i, (task, every_s, step) in enumerate(periodic):
            if time.monotonic() >= due[i]:
                due[i] = time.monotonic() + every_s
                steps.append((task, step))
        for task, step in steps:
            attempt(task, step)

    return turn


def retention_step(
    sessions: sessionmaker[Session], client: SyncClient, prefix: str, keep: timedelta,
    clock: Clock, log_shards: int = 1,
) -> Step:  # fmt: skip
    """Purge the scoring log (streams and SQL) older than ``keep``."""

    def retention() -> None:
        removed = purge_scoring_log(sessions, client, prefix, clock() - keep,
                                    log_shards=log_shards)  # fmt: skip
        if removed.total():
            log.info("retention: removed %s", dict(removed))

    return retention


def catch_up(ingestor: ScoringLogIngestor) -> None:
    """A label may arrive a moment before its decision is ingested: take what the log holds."""
    attempt(INGEST, lambda: ingestor.drain(max_batches=10))


# a label request waits this long at most for a cluster master away (a failover: seconds); the
# label is stored already, and the background loop tells the profiles once the replica took over
REQUEST_PATIENCE_S = 0.5


def push_labels(sync: ProfileLabelSync) -> None:
    """Tell the profiles about a new effective label now; if Redis is away the loop retries."""
    attempt(PROFILE_SYNC, lambda: sync.run_once(limit=50, patience_s=REQUEST_PATIENCE_S))


@dataclass
class BackgroundWork:
    """The consumers the lifespan starts and stops, and the thread that turns them."""

    ingestor: ScoringLogIngestor
    profile_sync: ProfileLabelSync
    monitor: Monitor
    worker: Worker

    @classmethod
    def build(
        cls, settings: FeedbackSettings, core: CoreSettings, sessions: sessionmaker[Session],
        client: SyncClient, clock: Clock,
    ) -> BackgroundWork:  # fmt: skip
        consumer = f"{socket.gethostname()}-{os.getpid()}"  # a restarted process is a new one
        ingestor = ScoringLogIngestor(client, sessions, core.key_prefix, settings.consumer_group,
                                      consumer, settings.ingest_batch,
                                      shards=core.log_shards)  # fmt: skip
        sync = ProfileLabelSync(ProfileStore(client, StoreConfig.from_settings(core)), sessions)
        monitor = Monitor(
            sessions,
            settings.model_dir,
            MonitorConfig(
                timedelta(hours=settings.drift_window_hours),
                quality_window=timedelta(days=settings.quality_window_days),
            ),
        )
        periodic = [Periodic(MONITOR, settings.monitor_every_s, lambda: monitor.run_once(clock()))]
        if settings.scoring_log_retention_days:
            keep = timedelta(days=settings.scoring_log_retention_days)
            step = retention_step(sessions, client, core.key_prefix, keep, clock, core.log_shards)
            periodic.append(Periodic(RETENTION, settings.retention_every_s, step))
        worker = Worker("feedback-sync", background_turn(ingestor, sync, periodic),
                        settings.sync_every_s, log)  # fmt: skip
        return cls(ingestor, sync, monitor, worker)

    def start(self) -> None:
        self.worker.start()

    def stop(self) -> None:
        self.worker.stop()
