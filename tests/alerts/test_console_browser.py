"""The console end to end in headless Chromium (Debian's, driven by Playwright): log in, open an
alert, mark it fraud, see the label stored by the feedback service."""

from __future__ import annotations

import json
import shutil

import httpx
import pytest
import redis

from fraudops.profile_store.commands import StoreConfig
from services.alerts.analysts import hash_password
from services.common.auth import new_key
from tests.alerts.conftest import alerts_env, log_decision
from tests.feedback.conftest import feedback_env
from tests.services.conftest import Server
from tests.waiting import wait_until

pytestmark = [pytest.mark.integration, pytest.mark.slow]
PASSWORD = "correct horse battery staple"


def chromium() -> str:
    path = shutil.which("chromium") or shutil.which("chromium-browser")
    if path is None:
        pytest.fail("the browser test needs Chromium: apt-get install chromium (make services)")
    return path


def test_analyst_logs_in_opens_an_alert_and_labels_it(
    postgres_url: str,
    feedback_keys: dict[str, str],
    store_config: StoreConfig,
    redis_client: redis.Redis,
) -> None:
    from playwright.sync_api import expect, sync_playwright

    console_key, console_entry = new_key(
        "console", ["label:analyst", "label:on-behalf", "monitoring"]
    )
    keys = {
        **feedback_keys,
        "config": json.dumps([*json.loads(feedback_keys["config"]), console_entry]),
    }
    feedback = Server(feedback_env(postgres_url, keys, store_config.prefix), service="feedback")
    alerts = None
    try:
        analysts = json.dumps([{"username": "ana", "password_hash": hash_password(PASSWORD)}])
        alerts = Server(
            alerts_env(
                postgres_url,
                store_config.prefix,
                FRAUDOPS_ALERTS_ANALYSTS=analysts,
                FRAUDOPS_ALERTS_FEEDBACK_URL=feedback.url,
                FRAUDOPS_ALERTS_FEEDBACK_API_KEY=console_key,
            ),
            service="alerts",
        )
        log_decision(
            redis_client,
            store_config.prefix,
            "web-1",
            "cust-web",
            "term-web",
            decision="review",
            score=0.87,
            amount=432.1,
        )
        with sync_playwright() as pw:
            browser = pw.chromium.launch(
                executable_path=chromium(), headless=True, args=["--no-sandbox"]
            )
            page = browser.new_page()
            page.goto(alerts.url + "/console")
            expect(page).to_have_url(alerts.url + "/console/login")
            page.fill("#username", "ana")
            page.fill("#password", "wrong password")
            page.click("#login")
            expect(page.locator("#login-error")).to_be_visible()
            page.fill("#username", "ana")
            page.fill("#password", PASSWORD)
            page.click("#login")
            expect(page).to_have_url(alerts.url + "/console")
            link = page.locator('a.alert-link[data-tx="web-1"]')
            assert wait_until(lambda: (page.reload(), link.count() == 1)[1], timeout=20)
            link.click()
            expect(page.locator("#tx-id")).to_have_text("web-1")
            expect(page.locator("#amount")).to_contain_text("432.10 EUR")
            expect(page.locator("#reasons")).to_contain_text("terminal_risk_7day")
            page.click("#mark-fraud")
            expect(page.locator("#label-result")).to_contain_text("Label stored: fraud")
            expect(page.locator("#status")).to_have_text("fraud by ana")
            page.goto(alerts.url + "/console/monitoring")
            expect(page.locator("#quality")).to_contain_text("labelled")
            expect(page.locator("#drift")).to_be_visible()
            browser.close()
        history = httpx.get(
            f"{feedback.url}/v1/feedback/web-1",
            headers={"Authorization": f"Bearer {feedback_keys['analyst']}"},
        ).json()
        assert [(e["source"], e["label"], e["actor"]) for e in history["events"]] == [
            ("analyst", "fraud", "console:ana")
        ]
    finally:
        out = alerts.stop() if alerts is not None else ""
        feedback.stop()
    assert "Traceback" not in out, out[-3000:]
