"""Turning alerts into messages, queueing each once per channel and delivering the queue: one
worker thread per channel, so a slow or hung channel delays neither the other channels nor, past
its own attempts, the next alerts; a delivery given up becomes a dead letter in the outbox, in
the same transaction as its record (``outbox`` publishes it to Redis)."""

from __future__ import annotations

import functools
import json
import logging
import threading
import uuid
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from services.alerts.channels import Channel, Message, attempt, backoff, one_line, utf8
from services.alerts.db import Alert, Delivery, Outbox
from services.alerts.metrics import DEAD, DELIVERIES, PENDING
from services.alerts.settings import AlertsSettings
from services.common.db import utcnow
from services.common.worker import Worker

log = logging.getLogger("fraudops.alerts")


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


def encode_message(m: Message) -> str:
    """A pending delivery's message as stored: JSON in ASCII (a lone surrogate survives)."""
    d = {"title": m.title, "lines": m.lines, "severity": m.severity, "link": m.link}
    return json.dumps({**d, "fields": m.fields})


def decode_message(key: str, payload: str) -> Message:
    d = json.loads(payload)
    return Message(key, d["title"], tuple(d["lines"]), d["severity"], d["link"], d["fields"])


class Notifier:
    """``queue`` (in the caller's transaction) and the per-channel workers (``start``)."""

    def __init__(
        self,
        channels: list[Channel],
        sessions: sessionmaker[Session],
        settings: AlertsSettings,
        clock: Callable[[], datetime],
    ) -> None:
        self.channels, self.sessions, self.s, self.clock = channels, sessions, settings, clock
        self.on_dead: Callable[[], None] = lambda: None  # the outbox publisher's poke
        self._workers: list[Worker] = []

    def queue(self, s: Session, message: Message, alert_id: int | None = None) -> dict[str, str]:
        """Each channel's delivery of ``message`` as a pending row of the caller's transaction,
        unless that channel has it already: {channel: pending|sent|dead}. Durable once the
        caller commits: a stream entry is acknowledged, an Alertmanager POST answered, then."""
        rows = s.execute(
            select(Delivery.channel, Delivery.status).where(Delivery.alert_key == message.key)
        )
        have = {channel: status for channel, status in rows}
        at, payload = self.clock(), encode_message(message)
        for ch in self.channels:
            if ch.name not in have:
                s.add(Delivery(alert_key=message.key, alert_id=alert_id, channel=ch.name,
                               status="pending", attempts=0, at=at, next_at=utcnow(),
                               payload=payload))  # fmt: skip
                have[ch.name] = "pending"
        return {ch.name: have[ch.name] for ch in self.channels}

    def send(self, message: Message) -> dict[str, str]:
        """``queue`` in a transaction of its own, then the workers woken."""
        try:
            with self.sessions.begin() as s:
                out = self.queue(s, message)
        except IntegrityError:  # queued by another process meanwhile: what it queued
            with self.sessions.begin() as s:
                out = self.queue(s, message)
        self.wake()
        return out

    def start(self, log: logging.Logger) -> None:
        for ch in self.channels:
            w = Worker(f"alerts-{ch.name}", lambda: None, self.s.delivery_poll_s, log)
            w.turn = functools.partial(self.work, ch, w.stopping)
            self._workers.append(w)
            w.start()

    def stop(self) -> None:
        for w in self._workers:
            w.stop()

    def wake(self) -> None:
        for w in self._workers:
            w.poke()

    def work(self, ch: Channel, stopping: threading.Event) -> int:
        """A worker's turn: the channel's due deliveries, one attempt each, until none is due."""
        done = 0
        while not stopping.is_set():
            claimed = self._claim(ch.name)
            if claimed is None:
                break
            self._attempt(ch, *claimed)
            done += 1
        with self.sessions() as s:
            PENDING.labels(ch.name).set(
                s.scalar(select(func.count(Delivery.id))
                         .where(Delivery.channel == ch.name, Delivery.status == "pending")) or 0
            )  # fmt: skip
        return done

    def _claim(self, channel: str) -> tuple[int, str, int, str] | None:
        """The oldest due pending delivery, leased: its ``next_at`` moved a lease ahead and its
        attempts counted, on the condition that nobody else did that first (attempts as a
        version), so two processes never work on one delivery at once."""
        while True:
            now = utcnow()  # the queue runs on the wall clock, whatever the alerts' clock
            with self.sessions.begin() as s:
                row = s.execute(
                    select(Delivery.id, Delivery.alert_key, Delivery.attempts, Delivery.payload)
                    .where(Delivery.channel == channel, Delivery.status == "pending",
                           Delivery.next_at <= now)
                    .order_by(Delivery.next_at, Delivery.id)
                    .limit(1)
                ).first()  # fmt: skip
                if row is None:
                    return None
                won: Any = s.execute(
                    update(Delivery)
                    .where(Delivery.id == row.id, Delivery.status == "pending",
                           Delivery.attempts == row.attempts)
                    .values(attempts=row.attempts + 1,
                            next_at=now + timedelta(seconds=self.s.delivery_lease_s))
                )  # fmt: skip
                if won.rowcount == 1:
                    return row.id, row.alert_key, row.attempts + 1, row.payload or ""

    def _attempt(self, ch: Channel, row_id: int, key: str, attempts: int, payload: str) -> None:
        title, error = "", None  # type: str, str | None
        try:
            message = decode_message(key, payload)
        except (ValueError, TypeError, KeyError) as exc:
            error, retry = f"{ch.name}: stored message unreadable: {type(exc).__name__}", False
        else:
            title = message.title
            error, retry = attempt(ch, message)
        now = self.clock()
        values: dict[str, Any] = {"error": None if error is None else one_line(error)}
        if error is not None and retry and attempts < self.s.max_attempts:
            status = "pending"  # tried again after the backoff; other deliveries meanwhile
            values["next_at"] = utcnow() + timedelta(
                seconds=backoff(attempts, self.s.backoff_s, self.s.backoff_max_s)
            )
        else:
            status = "sent" if error is None else "dead"
            values |= {"status": status, "next_at": None, "payload": None, "at": now}
        error = values["error"]  # redacted by the channel, one line
        with self.sessions.begin() as s:
            done: Any = s.execute(update(Delivery).where(Delivery.id == row_id).values(**values))
            if status == "dead" and done.rowcount == 1:  # (none: erased meanwhile)
                entry = {"key": utf8(key), "channel": ch.name, "error": error or "",
                         "title": utf8(title)}  # fmt: skip
                s.add(Outbox(uid=str(uuid.uuid4()), alert_key=key, fields=json.dumps(entry),
                             created_at=now))  # fmt: skip
        if status == "pending":
            log.warning("alert %s: %s attempt %d failed: %s", key, ch.name, attempts, error)
            return
        DELIVERIES.labels(ch.name, status).inc()
        if status == "dead":
            DEAD.inc()
            log.error("alert %s not delivered to %s after %d attempts: %s", key, ch.name,
                      attempts, error)  # fmt: skip
            self.on_dead()
