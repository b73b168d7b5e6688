"""Delivery channels: a Slack-compatible webhook and email over SMTP; one attempt at a time (the
per-channel workers of ``notify`` retry with backoff).

A message carries a stable id (``Idempotency-Key`` header, email ``Message-ID``) so a receiver can
drop the rare repeat that at-least-once delivery allows (a process killed between the delivery
and its record).

What an alert carries (ids, Alertmanager labels) is untrusted text: Slack's control characters are
escaped, header values are made single-line ASCII, and any failure of a channel, expected or not,
ends as an error string (never an exception) that names no credential: the webhook URL is one.
"""

from __future__ import annotations

import hashlib
import logging
import re
import smtplib
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from email.message import EmailMessage
from email.utils import parseaddr
from urllib.parse import quote

import httpx

from services.alerts.settings import AlertsSettings

# printable ASCII but "%", the escape character: what a header value keeps as it is
_HEADER_SAFE = "".join(chr(c) for c in range(0x20, 0x7F) if chr(c) != "%")
_DOMAIN = re.compile(r"[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*")  # a dot-atom, as a Message-ID's right
_ANY_URL = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*://[^\s'\"<>]+")
REDACTED = "[redacted]"


def utf8(text: str) -> str:
    """``text`` encodable as UTF-8 (a lone surrogate, which JSON can carry, becomes "?")."""
    return text.encode("utf-8", "replace").decode("utf-8")


def one_line(text: str) -> str:
    """A header's display text: line breaks and other unprintable characters become spaces."""
    return "".join(c if c.isprintable() else " " for c in utf8(text))


def header_value(text: str) -> str:
    """An id as a header value: printable ASCII as it is, anything else (line breaks, control and
    non-ASCII characters, "%") percent-encoded as UTF-8. Distinct ids stay distinct."""
    return quote(text, safe=_HEADER_SAFE, errors="surrogatepass")


def message_id(key: str, email_from: str) -> str:
    """A valid RFC 5322 Message-ID derived from the alert's key only: the same on every send.
    The readable part keeps letters, digits and "-" of the key; the digest keeps keys that read
    the same apart."""
    digest = hashlib.sha256(key.encode("utf-8", "surrogatepass")).hexdigest()[:32]
    readable = re.sub(r"[^A-Za-z0-9-]+", ".", key)[:64].strip(".")
    domain = parseaddr(email_from)[1].rpartition("@")[2]
    if not _DOMAIN.fullmatch(domain):
        domain = "fraudops.invalid"
    return f"<{readable}.{digest}@{domain}>" if readable else f"<{digest}@{domain}>"


def slack_text(text: str, limit: int | None = None) -> str:
    """``text`` for a Slack text field: ``&``, ``<`` and ``>`` escaped as Slack documents (so no
    ``<!channel>``, ``<!here>`` or ``<url|label>`` link in an id is acted on), cut to ``limit``
    characters after escaping, never inside an escape."""
    out: list[str] = []
    n = 0
    for c in utf8(text):
        piece = {"&": "&amp;", "<": "&lt;", ">": "&gt;"}.get(c, c)
        if limit is not None and n + len(piece) > limit:
            break
        out.append(piece)
        n += len(piece)
    return "".join(out)


def redact_url(url: str) -> str:
    """Scheme, host and port of ``url``: its path, query and user info may be a credential."""
    try:
        u = httpx.URL(url)
        origin = f"{u.scheme}://{u.host}" + (f":{u.port}" if u.port else "")
    except Exception:
        return REDACTED
    return f"{origin}/{REDACTED}"


class _RedactUrls(logging.Filter):
    """On the ``httpx`` logger: it logs every request's whole URL at INFO."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple):
            record.args = tuple(
                redact_url(str(a)) if isinstance(a, httpx.URL) else a for a in record.args
            )
        return True


def redact_httpx_logs() -> None:
    """Idempotent; needed whatever the logging set-up (``configure_logging`` only raises the
    ``httpx`` logger's level, which a debugging operator may lower)."""
    logger = logging.getLogger("httpx")
    if not any(isinstance(f, _RedactUrls) for f in logger.filters):
        logger.addFilter(_RedactUrls())


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

    def redact(self, text: str) -> str:
        """``text`` (an error) without this channel's secrets, for the logs and dead letters."""
        return text


class Webhook(Channel):
    name = "webhook"

    def __init__(self, url: str, timeout_s: float = 5.0) -> None:
        self.url = url
        self.client = httpx.Client(timeout=timeout_s)
        redact_httpx_logs()
        # the URL as given and as httpx spells it, and its parts: any may show in an error
        self._secrets = {url}
        try:
            u = httpx.URL(url)
            self._secrets |= {str(u), u.raw_path.decode("ascii"), u.path, u.query.decode("ascii")}
            self._secrets |= {u.userinfo.decode("ascii"), u.password or ""}
        except Exception:  # an invalid URL: its delivery fails, with a redacted error
            pass
        self._secrets -= {"", "/"}

    def redact(self, text: str) -> str:
        text = _ANY_URL.sub(lambda m: redact_url(m.group(0)), text)  # any URL: its origin only
        for secret in sorted(self._secrets, key=len, reverse=True):  # the rest: any part of ours
            text = text.replace(secret, REDACTED)
        return text

    def send(self, message: Message) -> None:
        emoji = ":rotating_light:" if message.severity == "page" else ":warning:"
        fields = [
            {"type": "mrkdwn", "text": f"*{slack_text(k)}*\n{slack_text(v, 1900)}"}
            for k, v in list(message.fields.items())[:10]
        ]
        body = {  # every text escaped, within Slack's limits
            "text": f"{emoji} {slack_text(message.title, 3000)}",
            "blocks": [
                {
                    "type": "header",
                    "text": {"type": "plain_text", "text": slack_text(message.title, 150)},
                },
                {
                    "type": "section",
                    "text": {"type": "mrkdwn", "text": slack_text("\n".join(message.lines), 3000)},
                },
                *([{"type": "section", "fields": fields}] if fields else []),
            ],
        }
        try:
            r = self.client.post(
                self.url, json=body, headers={"Idempotency-Key": header_value(message.key)}
            )
        except httpx.HTTPError as exc:  # its message may carry the URL: redacted, not chained
            raise DeliveryError(self.redact(f"webhook: {type(exc).__name__}: {exc}")) from None
        if r.status_code >= 300:
            raise DeliveryError(f"webhook answered {r.status_code}")


class Email(Channel):
    name = "email"

    def __init__(self, s: AlertsSettings) -> None:
        assert s.smtp_host
        self.s = s

    def redact(self, text: str) -> str:
        password = self.s.smtp_password.get_secret_value() if self.s.smtp_password else ""
        return text.replace(password, REDACTED) if password else text

    def send(self, message: Message) -> None:
        s = self.s
        msg = EmailMessage()
        # header values from the alert are single-line (a line break in one is a ValueError)
        msg["Subject"] = one_line(f"[fraudops {message.severity}] {message.title}")
        msg["From"] = s.email_from
        msg["To"] = ", ".join(s.email_to)
        msg["Message-ID"] = message_id(message.key, s.email_from)
        msg["X-Fraudops-Alert"] = header_value(message.key)
        msg.set_content(
            utf8(message.text() + "\n" + "\n".join(f"{k}: {v}" for k, v in message.fields.items()))
        )
        try:
            with smtplib.SMTP(s.smtp_host or "", s.smtp_port, timeout=s.smtp_timeout_s) as smtp:
                if s.smtp_starttls:
                    smtp.starttls()
                if s.smtp_username and s.smtp_password:
                    smtp.login(s.smtp_username, s.smtp_password.get_secret_value())
                smtp.send_message(msg)
        except (OSError, smtplib.SMTPException) as exc:
            raise DeliveryError(self.redact(f"smtp: {type(exc).__name__}: {exc}")) from None


def channels_from(s: AlertsSettings) -> list[Channel]:
    out: list[Channel] = []
    if s.webhook_url:
        out.append(Webhook(s.webhook_url.get_secret_value(), s.webhook_timeout_s))
    if s.smtp_host and s.email_to:
        out.append(Email(s))
    return out


def attempt(channel: Channel, message: Message) -> tuple[str | None, bool]:
    """One attempt: (None, _) when delivered, else (redacted error, worth retrying). Never raises:
    a DeliveryError is worth retrying; any other error (a message the channel cannot carry, a
    bug) is not, so the message ends in the dead letter at once and the channel goes on."""
    try:
        channel.send(message)
        return None, False
    except DeliveryError as exc:
        return channel.redact(str(exc)), True
    except Exception as exc:
        return channel.redact(f"{channel.name}: {type(exc).__name__}: {exc}"), False


def backoff(attempts: int, backoff_s: float, backoff_max_s: float) -> float:
    """Seconds before the next attempt after ``attempts`` failed ones: doubling, capped."""
    return float(min(backoff_max_s, backoff_s * 2 ** (attempts - 1)))


def deliver(
    channel: Channel,
    message: Message,
    attempts: int,
    backoff_s: float,
    backoff_max_s: float,
    sleep: Callable[[float], None] = time.sleep,
) -> tuple[bool, int, str | None]:
    """(delivered, attempts made, last error), retrying in place with backoff: for a one-off
    notice (retraining); alerts go through the per-channel queue instead. Never raises."""
    error = None
    for n in range(1, attempts + 1):
        error, retry = attempt(channel, message)
        if error is None:
            return True, n, None
        if not retry:
            return False, n, error
        if n < attempts:
            sleep(backoff(n, backoff_s, backoff_max_s))
    return False, attempts, error
