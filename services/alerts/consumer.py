"""Review/decline decisions from the scoring log -> alerts (rules, bursts, per-customer dedup) ->
channels. An alert and its deliveries (pending, one per channel) are stored in one transaction,
and an entry is acknowledged only after that: the per-channel workers of ``notify`` deliver."""

from __future__ import annotations

import contextlib
import json
import logging
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import orjson
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from fraudops.redis_clients import UNAVAILABLE, SyncClient
from services.alerts.db import Alert
from services.alerts.metrics import ALERTS, GROUPED, LAG, MALFORMED
from services.alerts.notify import Notifier, alert_message
from services.alerts.rules import FLAGGED, judge
from services.alerts.settings import AlertsSettings
from services.common import scoring_log
from services.common.stream import Entry, StreamConsumer

log = logging.getLogger("fraudops.alerts")


class AlertConsumer(StreamConsumer):
    def __init__(
        self,
        client: SyncClient,
        prefix: str,
        consumer: str,
        sessions: sessionmaker[Session],
        notifier: Notifier,
        settings: AlertsSettings,
        clock: Callable[[], datetime],
        console_url: str | None = None,
        *,
        shards: int = 1,
    ) -> None:
        super().__init__(
            client,
            prefix,
            settings.consumer_group,
            consumer,
            settings.batch,
            settings.claim_idle_ms,
            shards=shards,
        )
        self.sessions, self.notifier, self.s = sessions, notifier, settings
        self.clock, self.console_url = clock, console_url

    def handle(self, entries: list[Entry]) -> int:
        raised = 0
        for entry_id, fields in entries:
            try:
                d = orjson.loads(fields[scoring_log.FIELD])
                if d["decision"] not in FLAGGED:
                    continue
                alert = self.record(d)
            except (KeyError, ValueError, TypeError) as exc:
                MALFORMED.inc()
                log.error(
                    "scoring-log entry %s unreadable (%s): skipped",
                    entry_id.decode(),
                    type(exc).__name__,
                )
                continue
            if alert is None:
                continue
            raised += 1
        if raised:
            self.notifier.wake()
        with contextlib.suppress(*UNAVAILABLE):
            LAG.set(self.lag())
        return raised

    def _count(self, s: Session, column: Any, value: str, since: datetime) -> int:
        return int(
            s.scalar(select(func.count(Alert.id)).where(column == value, Alert.timestamp > since))
            or 0
        )

    def record(self, d: dict[str, Any]) -> Alert | None:
        """The alert of this decision (stored once; a redelivered entry finds it), or None."""
        ts = datetime.fromtimestamp(int(d["ts"]), UTC)
        amount = Decimal(int(d["amount_milli"])) / 1000
        try:
            with self.sessions.begin() as s:
                existing = s.scalar(
                    select(Alert).where(Alert.transaction_id == d["transaction_id"])
                )
                if existing is not None:  # its deliveries too; a channel added since: queued
                    if existing.grouped_with is None:
                        self.notifier.queue(
                            s, alert_message(existing, self.console_url), existing.id
                        )
                    return existing
                burst_since = ts - timedelta(seconds=self.s.burst_window_s)
                verdict = judge(
                    d["decision"],
                    float(d["score"]),
                    float(amount),
                    self._count(s, Alert.customer_id, d["customer_id"], burst_since),
                    self._count(s, Alert.terminal_id, d["terminal_id"], burst_since),
                    self.s,
                )
                if not verdict.alert:
                    return None
                first = (
                    s.scalar(
                        select(Alert.id)
                        .where(
                            Alert.customer_id == d["customer_id"],
                            Alert.grouped_with.is_(None),
                            Alert.timestamp > ts - timedelta(seconds=self.s.dedup_window_s),
                            Alert.timestamp <= ts,
                        )
                        .order_by(Alert.timestamp.desc())
                        .limit(1)
                    )
                    if self.s.dedup_window_s
                    else None
                )
                alert = Alert(
                    transaction_id=d["transaction_id"],
                    customer_id=d["customer_id"],
                    terminal_id=d["terminal_id"],
                    timestamp=ts,
                    amount=amount,
                    currency=d.get("currency"),
                    channel=d.get("channel"),
                    score=float(d["score"]),
                    decision=d["decision"],
                    model_version=str(d["model_version"]),
                    reasons=json.dumps(d.get("reasons") or []),
                    features=json.dumps(d.get("features") or []),
                    tags=",".join(verdict.tags),
                    severity=verdict.severity,
                    grouped_with=first,
                    created_at=self.clock(),
                    status="open",
                )
                s.add(alert)
                if first is None:
                    s.flush()  # its id, for the console link
                    self.notifier.queue(s, alert_message(alert, self.console_url), alert.id)
        except IntegrityError:  # another consumer stored it first
            with self.sessions() as s:
                return s.scalar(select(Alert).where(Alert.transaction_id == d["transaction_id"]))
        ALERTS.labels(alert.severity).inc()
        if alert.grouped_with is not None:
            GROUPED.inc()
        return alert
