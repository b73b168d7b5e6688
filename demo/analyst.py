"""The fraud team acts mid-run (issue 22): an analyst looks through the frauds confirmed so far for
a common point of compromise (terminals where several card holders were defrauded), puts those
terminals on a named list through the alerts service's ``/v1/lists`` API, and an admin publishes
and activates a rule set naming the list through the console. The demo then waits until every
scoring worker applies it. Nothing here reads the simulator's secret (which terminals it
compromised): only the labels and the scoring log the feedback service stored."""

from __future__ import annotations

import re
import time
from dataclasses import dataclass
from datetime import datetime

import httpx

from demo.live import ADMIN, Credentials
from demo.phases import Workspace
from demo.processes import Service
from demo.ui import console, step

LIST = "compromised_terminals"
RULE = "compromised_terminal"
RULES_TEXT = f"rule {RULE}: decline if terminal_id in @{LIST}\n"
MAX_TERMINALS = 5  # the analyst's shortlist
MIN_VICTIMS = 2  # card holders defrauded at one terminal: a common point of compromise
TOKEN = re.compile(r'name="csrf_token" value="([^"]+)"')


@dataclass(frozen=True)
class Activation:
    """What the fraud team did: the terminals listed (and how many card holders were defrauded
    at each), the list's version after the change, the rule set made active."""

    terminals: dict[str, int]
    list_version: int
    version: str


def suspect_terminals(db_url: str, since: datetime) -> dict[str, int]:
    """Terminals by card holders with a confirmed fraud there since ``since`` (labels joined with
    the scoring log): those with at least MIN_VICTIMS, at most MAX_TERMINALS; if none has, the
    single worst one. Empty when no fraud is confirmed."""
    from sqlalchemy import distinct, func, select

    from services.feedback.db import (
        EffectiveLabel,
        ScoredTransaction,
        make_engine,
        session_factory,
    )

    victims = func.count(distinct(ScoredTransaction.customer_id))
    query = (
        select(ScoredTransaction.terminal_id, victims)
        .join(EffectiveLabel, EffectiveLabel.transaction_id == ScoredTransaction.transaction_id)
        .where(EffectiveLabel.label == "fraud", ScoredTransaction.timestamp >= since)
        .group_by(ScoredTransaction.terminal_id)
        .order_by(victims.desc(), func.count().desc(), ScoredTransaction.terminal_id)
        .limit(MAX_TERMINALS)
    )
    engine = make_engine(db_url)
    try:
        with session_factory(engine)() as s:
            ranked = [(str(t), int(n)) for t, n in s.execute(query)]
    finally:
        engine.dispose()
    shared = {t: n for t, n in ranked if n >= MIN_VICTIMS}
    return shared or dict(ranked[:1])


def list_terminals(alerts_url: str, key: str, terminals: dict[str, int]) -> int:
    """Creates the list (if new) and adds the terminals through ``/v1/lists``; returns the lists'
    version after the change."""
    headers = {"Authorization": f"Bearer {key}"}
    with httpx.Client(base_url=alerts_url, headers=headers, timeout=10) as c:
        new = {"name": LIST, "kind": "terminal", "reason": "terminals seen in card frauds"}
        r = c.post("/v1/lists", json=new)
        if r.status_code not in (201, 409):  # 409: it exists already
            raise RuntimeError(f"creating @{LIST}: {r.status_code} {r.text[:200]}")
        why = "common point of compromise: " + ", ".join(
            f"{t} ({n} card holders defrauded)" for t, n in terminals.items()
        )
        r = c.post(f"/v1/lists/{LIST}/add", json={"values": list(terminals), "reason": why})
        if r.status_code != 200:
            raise RuntimeError(f"adding to @{LIST}: {r.status_code} {r.text[:200]}")
        return int(r.json()["version"])


class Console:
    """The console as a browser uses it: a session cookie, each form's CSRF token, the Origin."""

    def __init__(self, url: str) -> None:
        self.client = httpx.Client(base_url=url, timeout=30)
        self.origin = url.rstrip("/")

    def post(self, page: str, action: str, data: dict[str, str]) -> httpx.Response:
        found = TOKEN.search(self.client.get(page).text)
        form = {**data, "csrf_token": found.group(1) if found else ""}
        return self.client.post(action, data=form, headers={"Origin": self.origin})

    def close(self) -> None:
        self.client.close()


def publish_and_activate(alerts_url: str, admin: str, password: str, why: str) -> str:
    """The admin logs in to the console, publishes RULES_TEXT and activates it; returns rN."""
    console = Console(alerts_url)
    try:
        r = console.post("/console/login", "/console/login",
                         {"username": admin, "password": password})  # fmt: skip
        if r.status_code != 303:
            raise RuntimeError(f"console login as {admin}: {r.status_code}")
        r = console.post("/console/rules", "/console/rules", {"text": RULES_TEXT, "reason": why})
        published = re.search(r"Published (r\d+)", r.text)
        if r.status_code != 200 or published is None:
            raise RuntimeError(f"publishing the rule set: {r.status_code}")
        version = published.group(1)
        r = console.post(f"/console/rules/{version}", f"/console/rules/{version}/activate",
                         {"reason": why})  # fmt: skip
        if r.status_code != 200 or f"{version} is active." not in r.text:
            raise RuntimeError(f"activating {version}: {r.status_code}")
        return version
    finally:
        console.close()


def workers_applying(metrics: str, version: str) -> int:
    """Scoring workers whose active rule set is ``version`` (fraudops_scoring_rules_info, one
    series per live worker)."""
    pattern = re.compile(
        r'^fraudops_scoring_rules_info\{[^}]*version="' + re.escape(version) + r'"[^}]*\} 1(\.0)?$'
    )
    return sum(1 for line in metrics.splitlines() if pattern.match(line))


def wait_applied(scoring_url: str, version: str, workers: int, timeout_s: float = 15) -> float:
    """Until every scoring worker applies ``version``; returns the seconds it took."""
    started = time.monotonic()
    while time.monotonic() - started < timeout_s:
        metrics = httpx.get(scoring_url + "/metrics", timeout=5).text
        if workers_applying(metrics, version) >= workers:
            return time.monotonic() - started
        time.sleep(0.1)
    raise RuntimeError(f"rule set {version} not applied by {workers} scoring workers in time")


def metric_hits(scoring_url: str) -> dict[str, float]:
    """fraudops_scoring_rule_hits_total per rule, as Prometheus would scrape it."""
    from prometheus_client.parser import text_string_to_metric_families

    text = httpx.get(scoring_url + "/metrics", timeout=5).text
    return {
        sample.labels["rule"]: sample.value
        for family in text_string_to_metric_families(text)
        if family.name == "fraudops_scoring_rule_hits"
        for sample in family.samples
        if sample.name.endswith("_total")
    }


def act(work: Workspace, scoring: Service, alerts: Service, creds: Credentials,
        since: datetime) -> Activation | None:  # fmt: skip
    """The phase: find, list, publish, activate, wait until applied (None: no fraud confirmed
    since ``since``, nothing to act on)."""
    with step("an analyst looks for a common point of compromise in the confirmed frauds"):
        terminals = suspect_terminals(work.db_url, since)
        if not terminals:
            console.print("    no fraud confirmed yet: no rule")
            return None
        list_version = list_terminals(alerts.url, creds.lists_key, terminals)
        found = ", ".join(f"{t} ({n} card holders)" for t, n in terminals.items())
        console.print(f"    added to @{LIST} through /v1/lists: {found}")
    with step(f"the admin publishes and activates `{RULES_TEXT.strip()}` in the console"):
        why = f"decline at the {len(terminals)} terminals on @{LIST}"
        version = publish_and_activate(alerts.url, ADMIN, creds.admin_password, why)
        seconds = wait_applied(scoring.url, version, scoring.workers)
        console.print(f"    {version} active; every scoring worker applied it in {seconds:.1f} s")
    return Activation(terminals, list_version, version)
