"""Delivery channels: a Slack-compatible webhook and email over SMTP, with retries and backoff.

A message carries a stable id (``Idempotency-Key`` header, email ``Message-ID``) so a receiver can
drop the rare repeat that at-least-once delivery allows (a process killed between the delivery
and its record).
"""

from __future__ import annotations

import smtplib
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from email.message import EmailMessage
from email.utils import make_msgid

import httpx

from services.alerts.settings import AlertsSettings


@dataclass(frozen=True)
class Message:
    key: str  # stable id: the same alert gives the same key on every attempt
    title: str
    lines: tuple[str, ...]
    severity: str
    link: str | None = None
    fields: dict[str, str] = field(default_factory=dict)

    def text(self) -> str:
        return "\n".join((self.title, *self.lines, *([self.link] if self.link else [])))


class DeliveryError(RuntimeError):
    pass


class Channel:
    name = ""

    def send(self, message: Message) -> None:
        raise NotImplementedError


class Webhook(Channel):
    name = "webhook"

    def __init__(self, url: str, timeout_s: float = 5.0) -> None:
        self.url = url
        self.client = httpx.Client(timeout=timeout_s)

    def send(self, message: Message) -> None:
        emoji = ":rotating_light:" if message.severity == "page" else ":warning:"
        body = {
            "text": f"{emoji} {message.title}",
            "blocks": [
                {"type": "header", "text": {"type": "plain_text", "text": message.title[:150]}},
                {"type": "section", "text": {"type": "mrkdwn", "text": "\n".join(message.lines)}},
                *(
                    [
                        {
                            "type": "section",
                            "fields": [
                                {"type": "mrkdwn", "text": f"*{k}*\n{v}"}
                                for k, v in list(message.fields.items())[:10]
                            ],
                        }
                    ]
                    if message.fields
                    else []
                ),
            ],
        }
        try:
            r = self.client.post(self.url, json=body, headers={"Idempotency-Key": message.key})
        except httpx.HTTPError as exc:
            raise DeliveryError(f"webhook: {type(exc).__name__}") from None
        if r.status_code >= 300:
            raise DeliveryError(f"webhook answered {r.status_code}")


class Email(Channel):
    name = "email"

    def __init__(self, s: AlertsSettings) -> None:
        assert s.smtp_host
        self.s = s

    def send(self, message: Message) -> None:
        s = self.s
        msg = EmailMessage()
        msg["Subject"] = f"[fraudops {message.severity}] {message.title}"
        msg["From"] = s.email_from
        msg["To"] = ", ".join(s.email_to)
        domain = s.email_from.rsplit("@", 1)[-1]
        msg["Message-ID"] = make_msgid(idstring=message.key.replace(":", "."), domain=domain)
        msg["X-Fraudops-Alert"] = message.key
        msg.set_content(
            message.text() + "\n" + "\n".join(f"{k}: {v}" for k, v in message.fields.items())
        )
        try:
            with smtplib.SMTP(s.smtp_host or "", s.smtp_port, timeout=s.smtp_timeout_s) as smtp:
                if s.smtp_starttls:
                    smtp.starttls()
                if s.smtp_username and s.smtp_password:
                    smtp.login(s.smtp_username, s.smtp_password.get_secret_value())
                smtp.send_message(msg)
        except (OSError, smtplib.SMTPException) as exc:
            raise DeliveryError(f"smtp: {type(exc).__name__}: {exc}") from None


def channels_from(s: AlertsSettings) -> list[Channel]:
    out: list[Channel] = []
    if s.webhook_url:
        out.append(Webhook(s.webhook_url))
    if s.smtp_host and s.email_to:
        out.append(Email(s))
    return out


def deliver(
    channel: Channel,
    message: Message,
    attempts: int,
    backoff_s: float,
    backoff_max_s: float,
    sleep: Callable[[float], None] = time.sleep,
) -> tuple[bool, int, str | None]:
    """(delivered, attempts made, last error): retries with exponential backoff."""
    error = None
    for attempt in range(1, attempts + 1):
        try:
            channel.send(message)
            return True, attempt, None
        except DeliveryError as exc:
            error = str(exc)
            if attempt < attempts:
                sleep(min(backoff_max_s, backoff_s * 2 ** (attempt - 1)))
    return False, attempts, error
