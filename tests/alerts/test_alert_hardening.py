"""Hostile or broken alert content against the real service, Redis, database and receivers: Slack
control sequences in ids, line breaks and lone surrogates in Alertmanager fields, ids no header
can carry as they are, a channel that cannot work, stable and valid Message-IDs, and a webhook URL
(a credential) that shows in no log, dead letter or delivery record."""

from __future__ import annotations

import html
import json
import logging
import re
from email import policy
from email.parser import HeaderParser
from typing import Any

import httpx
import pytest
import redis
from sqlalchemy import select

from fraudops.profile_store.commands import StoreConfig
from services.alerts.channels import Email, Message, Webhook
from services.alerts.db import Delivery
from services.alerts.outbox import dead_letter_key
from services.alerts.settings import AlertsSettings
from services.common.db import make_engine, session_factory
from tests.alerts.conftest import alerts_client, alerts_env, email_env, log_decision
from tests.alerts.receivers import SmtpReceiver, WebhookReceiver
from tests.services.conftest import free_port
from tests.waiting import wait_until

pytestmark = pytest.mark.integration

ATEXT = r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]"
DOT_ATOM = rf"{ATEXT}+(?:\.{ATEXT}+)*"
MSG_ID = re.compile(rf"<{DOT_ATOM}@{DOT_ATOM}>")  # RFC 5322 3.6.4, without the obsolete forms


def texts(node: Any) -> list[str]:
    """Every Slack text field of a webhook body."""
    if isinstance(node, dict):
        own = [node["text"]] if isinstance(node.get("text"), str) else []
        return own + [t for v in node.values() for t in texts(v)]
    if isinstance(node, list):
        return [t for v in node for t in texts(v)]
    return []


def deliveries(database_url: str) -> list[Delivery]:
    engine = make_engine(database_url)
    try:
        with session_factory(engine)() as s:
            return list(s.scalars(select(Delivery)))
    finally:
        engine.dispose()


def test_slack_control_sequences_in_ids_are_escaped(
    database_url: str,
    store_config: StoreConfig,
    redis_client: redis.Redis,
    webhook: WebhookReceiver,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # ids the scoring schema accepts
    hostile = {
        "tx": "<!channel>",
        "customer": "<!here>",
        "terminal": "<https://evil.example|Open_in_console>",
    }
    escaped = {"tx": "x&lt;1", "customer": "&lt;!everyone&gt;", "terminal": "a&amp;b"}
    p = store_config.prefix
    for ids in (hostile, escaped):
        log_decision(redis_client, p, ids["tx"], ids["customer"], terminal=ids["terminal"])
    env = alerts_env(database_url, p, FRAUDOPS_ALERTS_WEBHOOK_URL=webhook.url)
    with alerts_client(env, monkeypatch):
        assert wait_until(lambda: len(webhook.bodies) == 2)
    for body in webhook.bodies:
        fields = texts(body)
        assert len(fields) >= 8  # text, header, section, five fields
        for text in fields:
            # "<" and ">" delimit every Slack control sequence (mentions, links): none is left
            assert "<" not in text and ">" not in text, text
            assert not re.search(r"&(?!amp;|lt;|gt;)", text), text  # every "&" escaped
    shown = "\n".join(html.unescape(t) for b in webhook.bodies for t in texts(b))
    for ids in (hostile, escaped):  # Slack shows the ids as they are, "&lt;" included
        assert f"customer {ids['customer']}, transaction {ids['tx']}" in shown
        assert f"terminal {ids['terminal']}, score" in shown


def test_an_id_no_header_can_carry_as_it_is_blocks_nothing(
    database_url: str,
    store_config: StoreConfig,
    redis_client: redis.Redis,
    webhook: WebhookReceiver,
    smtp: SmtpReceiver,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    p = store_config.prefix
    log_decision(redis_client, p, "zahlung-ü-1", "kunde-1")  # non-ASCII: a valid id
    log_decision(redis_client, p, "n-2", "cust-2")
    env = alerts_env(
        database_url,
        p,
        FRAUDOPS_ALERTS_WEBHOOK_URL=webhook.url,
        **email_env(smtp),
    )
    with alerts_client(env, monkeypatch):
        assert wait_until(lambda: len(webhook.delivered) == 2 and len(smtp.messages) == 2)
    keys = {"tx:zahlung-%C3%BC-1", "tx:n-2"}  # percent-encoded UTF-8: distinct ids stay distinct
    assert set(webhook.delivered) == keys
    assert {m["X-Fraudops-Alert"] for m in smtp.messages} == keys
    assert not redis_client.xrange(dead_letter_key(p))


def test_one_bad_alertmanager_alert_blocks_none_of_the_others(
    database_url: str,
    store_config: StoreConfig,
    redis_client: redis.Redis,
    webhook: WebhookReceiver,
    smtp: SmtpReceiver,
    monkeypatch: pytest.MonkeyPatch,
    am_key: tuple[str, str],
) -> None:
    def alert(fingerprint: str, summary: str, **labels: str) -> dict[str, Any]:
        return {
            "status": "firing",
            "labels": {"alertname": "DiskFull", "severity": "ticket", **labels},
            "annotations": {"summary": summary, "description": summary},
            "startsAt": "2026-11-27T10:00:00Z",
            "fingerprint": fingerprint,
        }

    alerts = [
        alert("good-1", "disk 91 %"),
        alert("line\nbreak", "disk full\r\nBcc: someone@evil.example", instance="db\n1"),
        alert("surrogate", "lone \ud800 surrogate"),
        alert("nul\x00byte", "a NUL \x00 in a label", instance="db\x002"),
        alert("good-2", "disk 95 %"),
    ]
    env = alerts_env(
        database_url,
        store_config.prefix,
        FRAUDOPS_ALERTS_WEBHOOK_URL=webhook.url,
        **email_env(smtp),
        FRAUDOPS_ALERTS_API_KEYS=am_key[1],
    )
    keys = {
        "am:good-1:firing:2026-11-27T10:00:00Z",
        "am:line\\nbreak:firing:2026-11-27T10:00:00Z",
        "am:surrogate:firing:2026-11-27T10:00:00Z",
        "am:nul\\x00byte:firing:2026-11-27T10:00:00Z",
        "am:good-2:firing:2026-11-27T10:00:00Z",
    }
    with alerts_client(env, monkeypatch) as client:
        r = client.post(
            "/v1/alertmanager",
            content=json.dumps({"version": "4", "status": "firing", "alerts": alerts}),
            headers={"Authorization": f"Bearer {am_key[0]}", "Content-Type": "application/json"},
        )
        assert r.status_code == 200, r.text
        assert r.json()["delivered"] == {
            k: {"webhook": "pending", "email": "pending"} for k in keys
        }
        assert wait_until(lambda: {d.status for d in deliveries(database_url)} == {"sent"})
    assert set(webhook.delivered) == keys  # every alert reached both channels
    assert {m["X-Fraudops-Alert"] for m in smtp.messages} == keys
    headers = sorted(smtp.messages[0].keys())
    for m in smtp.messages:  # no header injected: the same headers in every mail, once each
        assert sorted(m.keys()) == headers and m["Bcc"] is None
    mail = next(m for m in smtp.messages if m["X-Fraudops-Alert"].startswith("am:line"))
    assert "full Bcc: someone@evil.example" in " ".join(mail["Subject"].split())  # one line
    assert not redis_client.xrange(dead_letter_key(store_config.prefix))


def test_any_channel_failure_ends_in_the_dead_letter(
    database_url: str,
    store_config: StoreConfig,
    redis_client: redis.Redis,
    smtp: SmtpReceiver,
    monkeypatch: pytest.MonkeyPatch,
    am_key: tuple[str, str],
) -> None:
    # an invalid webhook URL: httpx raises InvalidURL, no httpx.HTTPError
    env = alerts_env(
        database_url,
        store_config.prefix,
        FRAUDOPS_ALERTS_WEBHOOK_URL="http://127.0.0.1:notaport/services/T0/B0/hook-secret",
        **email_env(smtp),
        FRAUDOPS_ALERTS_API_KEYS=am_key[1],
    )
    payload = {
        "status": "firing",
        "alerts": [
            {"status": "firing", "labels": {"alertname": name}, "fingerprint": name}
            for name in ("First", "Second")
        ],
    }
    with alerts_client(env, monkeypatch) as client:
        h = {"Authorization": f"Bearer {am_key[0]}"}
        r = client.post("/v1/alertmanager", json=payload, headers=h)
        assert r.status_code == 200, r.text
        assert wait_until(
            lambda: (
                len(redis_client.xrange(dead_letter_key(store_config.prefix))) == 2
                and len(smtp.messages) == 2
            )
        )
        r = client.post("/v1/alertmanager", json=payload, headers=h)
    assert r.json()["delivered"] == {
        "am:First:firing:": {"webhook": "dead", "email": "sent"},
        "am:Second:firing:": {"webhook": "dead", "email": "sent"},
    }
    assert len(smtp.messages) == 2  # the other channel still had both
    dead = redis_client.xrange(dead_letter_key(store_config.prefix))
    assert [(d[b"key"], d[b"channel"]) for _, d in dead] == [
        (b"am:First:firing:", b"webhook"),
        (b"am:Second:firing:", b"webhook"),
    ]
    assert all(b"InvalidURL" in d[b"error"] and b"secret" not in d[b"error"] for _, d in dead)
    rows = {(d.alert_key, d.channel, d.status, d.attempts) for d in deliveries(database_url)}
    assert ("am:First:firing:", "webhook", "dead", 1) in rows  # not retried: it cannot work


def test_message_id_is_stable_per_alert_and_valid(smtp: SmtpReceiver) -> None:
    s = AlertsSettings(
        smtp_host="127.0.0.1",
        smtp_port=smtp.port,
        email_from="Fraud alerts <alerts@fraud.example>",
        email_to=["fraud-team@example.com"],
    )
    keys = ["tx:a(b<c>", "tx:a<b(c>", 'tx:"q"@x;y', "tx:zahlung-ü", "am:fp:firing:2026-11-27"]
    email = Email(s)
    for _ in range(2):  # every send of an alert, e.g. again after a restart
        for key in keys:
            email.send(Message(key, "title", ("line",), "ticket"))
    ids = [m["Message-ID"].strip() for m in smtp.messages]  # a long one is folded: legal
    assert ids[: len(keys)] == ids[len(keys) :]  # stable
    assert len(set(ids)) == len(keys)  # one per alert, even for ids that read alike
    for mid in ids:
        assert MSG_ID.fullmatch(mid), mid
        assert mid.endswith("@fraud.example>")
        header = HeaderParser(policy=policy.default).parsestr(f"Message-ID: {mid}\n\n")
        assert not header["Message-ID"].defects, (mid, header["Message-ID"].defects)


def test_the_webhook_url_shows_in_no_log_dead_letter_or_record(
    database_url: str,
    store_config: StoreConfig,
    redis_client: redis.Redis,
    webhook: WebhookReceiver,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    # as without configure_logging (a consumer run on its own, a debugging operator): httpx at
    # INFO logs every request's URL, httpcore at DEBUG its connections
    for name in (None, "httpx", "httpcore", "fraudops"):
        caplog.set_level(logging.DEBUG, logger=name)
    secret = "/services/T0SECRET/B0SECRET/xoxbSECRETtoken?token=SECRETquery"
    down = f"http://127.0.0.1:{free_port()}{secret}"  # nobody listens: ConnectError
    p = store_config.prefix
    for n, (url, tx) in enumerate(((webhook.url + secret, "w-1"), (down, "w-2")), 1):
        env = alerts_env(
            database_url, p, FRAUDOPS_ALERTS_WEBHOOK_URL=url, FRAUDOPS_ALERTS_MAX_ATTEMPTS="2"
        )
        log_decision(redis_client, p, tx, f"cust-{tx}")
        with alerts_client(env, monkeypatch):
            assert wait_until(
                lambda n=n: (
                    len([d for d in deliveries(database_url) if d.status != "pending"]) == n
                    and (n == 1 or redis_client.exists(dead_letter_key(p)))
                )
            )
    assert webhook.delivered["tx:w-1"] == 1
    dead = redis_client.xrange(dead_letter_key(p))
    assert [d[b"key"] for _, d in dead] == [b"tx:w-2"]
    assert b"ConnectError" in dead[0][1][b"error"]
    records = deliveries(database_url)
    assert {(d.alert_key, d.status) for d in records} == {("tx:w-1", "sent"), ("tx:w-2", "dead")}
    logged = caplog.text + "\n".join(r.getMessage() for r in caplog.records)
    assert "HTTP Request: POST http://127.0.0.1" in logged  # httpx did log: redacted
    stored = [*(v.decode() for _, d in dead for v in d.values()), *(d.error or "" for d in records)]
    for where, text in {"logs": logged, "dead letters and records": "\n".join(stored)}.items():
        assert "SECRET" not in text, f"the webhook URL in the {where}"


def test_a_webhook_error_names_no_part_of_the_url() -> None:
    url = "https://user:pwSECRET@hooks.example:8443/services/T0/B0/SECRETtoken?token=SECRET%20q"
    hook = Webhook(url)
    u = httpx.URL(url)
    spelled = [url, str(u), repr(httpx.Request("POST", url)), u.path, u.raw_path.decode()]
    spelled += [f"Server error '503' for url '{u}'", f"for {url.replace('https', 'http')}"]
    for text in spelled:
        assert "SECRET" not in hook.redact(f"webhook: ConnectError: {text}"), text
    assert hook.redact(url) == "https://hooks.example:8443/[redacted]"  # the host stays
