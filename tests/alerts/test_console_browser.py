"""The console end to end in headless Chromium (Debian's, driven by Playwright) against real
feedback and alerts servers on PostgreSQL (started once for the module): log in, open an alert,
mark it fraud, see the label stored by the feedback service, log out; a page on another port of
the same host (same site: the SameSite=strict cookie goes along) cannot label; an analyst named
josé can."""

from __future__ import annotations

import json
import shutil
import threading
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
import pytest
import redis

from services.alerts.analysts import hash_password
from services.common.auth import new_key
from tests.alerts.conftest import alerts_env, log_decision
from tests.conftest import TEST_REDIS_URL
from tests.feedback.conftest import create_pg_database, drop_pg_database, feedback_env, pg_url
from tests.services.conftest import Server, free_port
from tests.waiting import wait_until

pytestmark = [pytest.mark.integration, pytest.mark.slow]
PASSWORD = "correct horse battery staple"


def chromium() -> str:
    path = shutil.which("chromium") or shutil.which("chromium-browser")
    if path is None:
        pytest.fail("the browser test needs Chromium: apt-get install chromium (make services)")
    return path


@dataclass
class Stack:
    feedback: str
    alerts: str
    analyst_key: str  # reads label histories
    redis: redis.Redis
    prefix: str

    def alert(self, tx: str) -> None:
        log_decision(self.redis, self.prefix, tx, f"cust-{tx}", "term-web", decision="review",
                     score=0.87, amount=432.1)  # fmt: skip

    def history(self, tx: str) -> list[tuple[str, str, str]]:
        r = httpx.get(f"{self.feedback}/v1/feedback/{tx}",
                      headers={"Authorization": f"Bearer {self.analyst_key}"})  # fmt: skip
        return [(e["source"], e["label"], e["actor"]) for e in r.json()["events"]]


@pytest.fixture(scope="module")
def stack(feedback_keys: dict[str, str]) -> Iterator[Stack]:
    """Feedback and alerts servers on one PostgreSQL database; analysts ana and josé."""
    database, prefix = create_pg_database(), f"test{uuid.uuid4().hex[:10]}"
    client = redis.Redis.from_url(TEST_REDIS_URL)
    console_key, console_entry = new_key(
        "console", ["label:analyst", "label:on-behalf", "monitoring"]
    )
    keys = {
        **feedback_keys,
        "config": json.dumps([*json.loads(feedback_keys["config"]), console_entry]),
    }
    feedback = Server(feedback_env(pg_url(database), keys, prefix), service="feedback")
    alerts = None
    try:
        analysts = json.dumps([{"username": u, "password_hash": hash_password(PASSWORD)}
                               for u in ("ana", "josé")])  # fmt: skip
        port = free_port()
        alerts = Server(
            alerts_env(
                pg_url(database),
                prefix,
                FRAUDOPS_ALERTS_ANALYSTS=analysts,
                FRAUDOPS_ALERTS_FEEDBACK_URL=feedback.url,
                FRAUDOPS_ALERTS_FEEDBACK_API_KEY=console_key,
                FRAUDOPS_ALERTS_PUBLIC_URL=f"http://127.0.0.1:{port}",
            ),
            service="alerts",
            port=port,
        )
        yield Stack(feedback.url, alerts.url, feedback_keys["analyst"], client, prefix)
    finally:
        out = alerts.stop() if alerts is not None else ""
        feedback.stop()
        client.delete(*client.keys(f"{prefix}:*") or [f"{prefix}:none"])
        client.close()
        drop_pg_database(database)
    assert "Traceback" not in out, out[-3000:]


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=chromium(), headless=True, args=["--no-sandbox"])
        yield b
        b.close()


def log_in(page: Any, stack: Stack, user: str) -> None:
    from playwright.sync_api import expect

    page.goto(stack.alerts + "/console/login")
    page.fill("#username", user)
    page.fill("#password", PASSWORD)
    page.click("#login")
    expect(page).to_have_url(stack.alerts + "/console")


def open_alert(page: Any, tx: str) -> int:
    """Opens the alert of payment ``tx`` from the queue (once the consumer has stored it)."""
    from playwright.sync_api import expect

    link = page.locator(f'a.alert-link[data-tx="{tx}"]')
    assert wait_until(lambda: (page.reload(), link.count() == 1)[1], timeout=20)
    link.click()
    expect(page.locator("#tx-id")).to_have_text(tx)
    return int(page.url.rsplit("/", 1)[1])


class HostilePage:
    """A page served from another port of 127.0.0.1: the same site as the console."""

    def __init__(self, html: str) -> None:
        body = html.encode()

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                self.send_response(200)
                self.send_header("Content-Type", "text/html; charset=utf-8")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def test_analyst_logs_in_opens_an_alert_and_labels_it(stack: Stack, browser: Any) -> None:
    from playwright.sync_api import expect

    stack.alert("web-1")
    page = browser.new_context().new_page()
    page.goto(stack.alerts + "/console")
    expect(page).to_have_url(stack.alerts + "/console/login")
    page.fill("#username", "ana")
    page.fill("#password", "wrong password")
    page.click("#login")
    expect(page.locator("#login-error")).to_be_visible()
    log_in(page, stack, "ana")
    open_alert(page, "web-1")
    expect(page.locator("#amount")).to_contain_text("432.10 EUR")
    expect(page.locator("#reasons")).to_contain_text("terminal_risk_7day")
    page.click("#mark-fraud")
    expect(page.locator("#label-result")).to_contain_text("Label stored: fraud")
    expect(page.locator("#status")).to_have_text("fraud by ana")
    page.goto(stack.alerts + "/console/monitoring")
    expect(page.locator("#quality")).to_contain_text("labelled")
    expect(page.locator("#drift")).to_be_visible()
    assert stack.history("web-1") == [("analyst", "fraud", "console:ana")]
    page.click("#logout")  # the header's button: a POST with the page's token
    expect(page).to_have_url(stack.alerts + "/console/login")
    page.goto(stack.alerts + "/console")
    expect(page).to_have_url(stack.alerts + "/console/login")  # the session is over


def test_a_page_on_another_port_cannot_label(stack: Stack, browser: Any) -> None:
    """A logged-in analyst visits a page of another port: its no-cors text/plain fetch and its
    auto-submitted form reach the console with the session cookie, and are refused."""
    from playwright.sync_api import expect

    stack.alert("csrf-1")
    context = browser.new_context()
    page = context.new_page()
    log_in(page, stack, "ana")
    alert_id = open_alert(page, "csrf-1")
    target = f"{stack.alerts}/console/alerts/{alert_id}/label"
    hostile = HostilePage(f"""<!doctype html><form method="post" action="{target}">
        <input name="label" value="fraud"></form>
        <script>fetch("{target}", {{method: "POST", mode: "no-cors", credentials: "include",
            headers: {{"Content-Type": "text/plain"}}, body: "label=fraud"}})
          .finally(() => document.forms[0].submit());</script>""")
    try:
        attacker = context.new_page()
        answers: list[int] = []
        attacker.on("response", lambda r: answers.append(r.status) if r.url == target else None)
        attacker.goto(hostile.url)
        attacker.wait_for_url(target)
        expect(attacker.locator("body")).to_contain_text(
            f"Origin '{hostile.url.rstrip('/')}' is not the console's origin"
        )
    finally:
        hostile.close()
    assert answers == [403, 403]  # the fetch, then the form
    assert stack.history("csrf-1") == []
    page.reload()
    expect(page.locator("#status")).to_have_text("open")
    page.click("#mark-legit")  # the console's own form still works
    expect(page.locator("#label-result")).to_contain_text("Label stored: legit")
    expect(page.locator("#status")).to_have_text("legit by ana")
    assert stack.history("csrf-1") == [("analyst", "legit", "console:ana")]


def test_an_analyst_named_jose_labels(stack: Stack, browser: Any) -> None:
    from playwright.sync_api import expect

    stack.alert("jose-1")
    page = browser.new_context().new_page()
    log_in(page, stack, "josé")
    open_alert(page, "jose-1")
    page.click("#mark-fraud")
    expect(page.locator("#label-result")).to_contain_text("Label stored: fraud")
    expect(page.locator("#status")).to_have_text("fraud by josé")
    assert stack.history("jose-1") == [("analyst", "fraud", "console:josé")]
