"""Turning alerts into messages and delivering them once per channel (dead letters otherwise)."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from datetime import datetime
from typing import Any

import redis
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from services.alerts.channels import Channel, Message, deliver, one_line, utf8
from services.alerts.db import Alert, Delivery
from services.alerts.metrics import DEAD, DELIVERIES
from services.alerts.settings import AlertsSettings

log = logging.getLogger("fraudops.alerts")


def dead_letter_key(prefix: str) -> str:
    return f"{prefix}:alerts:dead"


def alert_message(alert: Alert, console_url: str | None) -> Message:
    reasons = json.loads(alert.reasons or "[]")
    amount = f"{float(alert.amount):,.2f} {alert.currency or ''}".strip()
    title = (
        f"{alert.decision.upper()}: {amount} at terminal {alert.terminal_id}, "
        f"score {alert.score:.3f}"
    )
    lines = [
        f"customer {alert.customer_id}, transaction {alert.transaction_id}",
        f"tags: {alert.tags}",
        f"model {alert.model_version}",
    ]
    lines += [f"reason: {r['feature']} = {r['value']} ({r['contribution']:+.3f})" for r in reasons]
    link = f"{console_url.rstrip('/')}/console/alerts/{alert.id}" if console_url else None
    return Message(
        f"tx:{alert.transaction_id}",
        title,
        tuple(lines),
        alert.severity,
        link,
        {
            "amount": amount,
            "score": f"{alert.score:.3f}",
            "decision": alert.decision,
            "customer": alert.customer_id,
            "terminal": alert.terminal_id,
        },
    )


class Notifier:
    def __init__(
        self,
        channels: list[Channel],
        sessions: sessionmaker[Session],
        client: redis.Redis,
        prefix: str,
        settings: AlertsSettings,
        clock: Callable[[], datetime],
    ) -> None:
        self.channels, self.sessions, self.redis = channels, sessions, client
        self.dead_key = dead_letter_key(prefix)
        self.s, self.clock = settings, clock

    def _done(self, key: str, channel: str) -> bool:
        with self.sessions() as s:
            return (
                s.scalar(
                    select(Delivery.id).where(
                        Delivery.alert_key == key, Delivery.channel == channel
                    )
                )
                is not None
            )

    def send(self, message: Message, alert_id: int | None = None) -> dict[str, str]:
        """Deliver to every channel that has not had it; returns {channel: sent|dead|skipped}."""
        out = {}
        for ch in self.channels:
            if self._done(message.key, ch.name):
                out[ch.name] = "skipped"
                continue
            ok, attempts, error = deliver(
                ch, message, self.s.max_attempts, self.s.backoff_s, self.s.backoff_max_s
            )
            error = one_line(error) if error is not None else None  # redacted by deliver
            status = "sent" if ok else "dead"
            if not ok:  # the dead letter first: the record below may fail (database away)
                DEAD.inc()
                entry: dict[str, Any] = {
                    "key": utf8(message.key),
                    "channel": ch.name,
                    "error": error or "",
                    "title": utf8(message.title),
                }
                self.redis.xadd(self.dead_key, entry, maxlen=100_000, approximate=True)  # type: ignore[arg-type]
                log.error(
                    "alert %s not delivered to %s after %d attempts: %s",
                    message.key,
                    ch.name,
                    attempts,
                    error,
                )
            try:
                with self.sessions.begin() as s:
                    s.add(
                        Delivery(
                            alert_key=message.key,
                            alert_id=alert_id,
                            channel=ch.name,
                            status=status,
                            attempts=attempts,
                            error=error,
                            at=self.clock(),
                        )
                    )
            except IntegrityError:  # another consumer recorded it meanwhile
                pass
            DELIVERIES.labels(ch.name, status).inc()
            out[ch.name] = status
        return out
