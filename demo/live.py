"""The live phases, with the services running as real processes: start them, replay payments
through the scoring API, send the card holders' answers and chargebacks to the feedback API, and
wait for the services to catch up (the scoring log stored, a promoted model served)."""

from __future__ import annotations

import json
import secrets
import time
from dataclasses import dataclass

import httpx
import pandas as pd

from demo import traffic
from demo.config import DemoConfig
from demo.phases import Workspace
from demo.processes import Service, free_port
from demo.ui import bar, console, step, ticks

ADMIN = "admin"  # the console user who activates rule sets (role admin)


@dataclass(frozen=True, repr=False)  # no repr: a traceback or log line never shows a secret
class Credentials:
    """Made for this run only, never written to the repository."""

    score_key: str
    chargeback_key: str
    console_key: str
    entries: dict[str, dict[str, object]]  # the services' configured (hashed) keys
    token_secret: str
    password: str  # the console analyst's
    lists_key: str  # the fraud team's tool on /v1/lists
    admin_password: str  # the console admin's, who activates rule sets

    @classmethod
    def make(cls) -> Credentials:
        from services.common.auth import new_key

        score_key, score_entry = new_key("demo-psp", ["score"])
        cb_key, cb_entry = new_key("demo-chargebacks", ["label:chargeback"])
        console_key, console_entry = new_key(
            "demo-console", ["label:analyst", "label:on-behalf", "monitoring"]
        )
        lists_key, lists_entry = new_key("demo-fraud-team", ["lists:read", "lists:write"])
        entries = {"score": score_entry, "chargeback": cb_entry, "console": console_entry,
                   "lists": lists_entry}  # fmt: skip
        return cls(score_key, cb_key, console_key, entries, secrets.token_urlsafe(32),
                   secrets.token_urlsafe(12), lists_key, secrets.token_urlsafe(12))  # fmt: skip


def define_services(work: Workspace, creds: Credentials) -> list[Service]:
    """The scoring, feedback and alerts services (not started), each on a free port."""
    from services.alerts.analysts import hash_password

    common = {
        "REDIS_URL": work.redis_url,
        "DATABASE_URL": work.db_url,
        "FRAUDOPS_KEY_PREFIX": work.prefix,
        "FRAUDOPS_MODEL_DIR": str(work.models),
        "FRAUDOPS_RULES_DIR": str(work.rules),
    }
    ports = {name: free_port() for name in ("scoring", "feedback", "alerts")}
    analysts = [
        {"username": "analyst", "password_hash": hash_password(creds.password)},
        {"username": ADMIN, "password_hash": hash_password(creds.admin_password), "role": "admin"},
    ]
    return [
        Service("scoring", ports["scoring"], {
            **common,
            "FRAUDOPS_API_KEYS": json.dumps([creds.entries["score"]]),
            "FRAUDOPS_SCORING_MODEL_POLL_S": "0.5",
        }, work.root / "scoring.log", workers=2),
        Service("feedback", ports["feedback"], {
            **common,
            "FRAUDOPS_FEEDBACK_API_KEYS": json.dumps(
                [creds.entries["chargeback"], creds.entries["console"]]
            ),
            "FRAUDOPS_FEEDBACK_TOKEN_SECRET": creds.token_secret,
            # weeks of a card holder's answers arrive within a minute here: no per-user limit
            "FRAUDOPS_FEEDBACK_RATE_LIMIT_PER_USER": "0",
        }, work.root / "feedback.log"),
        Service("alerts", ports["alerts"], {
            **common,
            "FRAUDOPS_ALERTS_SESSION_SECRET": secrets.token_urlsafe(32),
            "FRAUDOPS_ALERTS_ANALYSTS": json.dumps(analysts),
            "FRAUDOPS_ALERTS_FEEDBACK_URL": f"http://127.0.0.1:{ports['feedback']}",
            "FRAUDOPS_ALERTS_FEEDBACK_API_KEY": creds.console_key,
            "FRAUDOPS_ALERTS_PUBLIC_URL": f"http://127.0.0.1:{ports['alerts']}",
            "FRAUDOPS_ALERTS_API_KEYS": json.dumps([creds.entries["lists"]]),
        }, work.root / "alerts.log"),
    ]  # fmt: skip


def start_services(services: list[Service]) -> None:
    with step("starting the scoring, feedback and alerts services"):
        for s in services:
            s.start()


def replay(
    scoring: Service, creds: Credentials, live: pd.DataFrame, cfg: DemoConfig, which: str = ""
) -> pd.DataFrame:
    """The live payments through POST /v1/score, in time order; the answers and latencies."""
    with (
        step(f"replaying {which}{len(live):,} payments through POST /v1/score"),
        bar("scored", len(live)) as progress,
    ):
        return traffic.replay(scoring.url, creds.score_key, live, cfg.concurrency, ticks(progress))


def send_labels(
    feedback: Service, creds: Credentials, answers: pd.DataFrame, cfg: DemoConfig
) -> tuple[pd.DataFrame, pd.Series]:
    """Card holders answer held payments in-app, missed frauds come back as chargebacks;
    returns (the plan, the HTTP status of each label)."""
    plan = traffic.feedback_plan(answers, cfg.answer_rate, cfg.seed)
    with (
        step(f"{len(plan):,} in-app answers and chargebacks through POST /v1/feedback"),
        bar("labels", len(plan)) as progress,
    ):
        statuses = traffic.send_feedback(
            feedback.url,
            plan,
            creds.token_secret,
            creds.chargeback_key,
            cfg.concurrency,
            ticks(progress),
        )
    return plan, statuses


def wait_ingested(db_url: str, expected: int, timeout_s: float = 60) -> None:
    """Until the feedback service has stored the whole scoring log (retraining reads it)."""
    from sqlalchemy import func, select

    from services.feedback.db import ScoredTransaction, make_engine, session_factory

    engine = make_engine(db_url)
    try:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            with session_factory(engine)() as s:
                if s.scalar(select(func.count()).select_from(ScoredTransaction)) >= expected:
                    return
            time.sleep(0.3)
        raise RuntimeError("the feedback service did not take the whole scoring log")
    finally:
        engine.dispose()


def shadow_result(work: Workspace, challenger: str) -> dict[str, object]:
    """The challenger's shadow line: payments it scored (of those stored; the rest were skipped
    by its CPU budget) and the shadow report on the labelled ones (NaN AP, no fraud: null)."""
    from sqlalchemy import func, select

    from models.commands.shadow_report import strict
    from models.registry import Registry
    from models.shadow import shadow_report
    from services.feedback.db import ScoredTransaction, make_engine, session_factory

    engine = make_engine(work.db_url)
    try:
        with session_factory(engine)() as s:
            stored = s.scalar(select(func.count()).select_from(ScoredTransaction)) or 0
            scored = (
                s.scalar(
                    select(func.count())
                    .select_from(ScoredTransaction)
                    .where(ScoredTransaction.shadow_model_version == challenger)
                    .where(ScoredTransaction.shadow_score.is_not(None))
                )
                or 0
            )
    finally:
        engine.dispose()
    with step(f"shadow report: {challenger} vs production on the labelled payments"):
        report = shadow_report(Registry(work.models), work.db_url, challenger)
    return {
        "challenger": challenger,
        "shadow_scored": scored,
        "skipped": stored - scored,
        "labelled": report["labelled"],
        "frauds": report["frauds"],
        "champion_ap": strict(report["champion_ap"]),
        "challenger_ap": strict(report["challenger_ap"]),
        "ap_difference_95": strict(report["intervals_95"].get("ap_difference")),
    }


def wait_serving(url: str, version: str | None, timeout_s: float = 30) -> str | None:
    """The model version the scoring service answers with once it hot-swapped to ``version``
    (or whatever it serves after ``timeout_s``)."""
    deadline = time.monotonic() + timeout_s
    current = None
    while time.monotonic() < deadline:
        current = httpx.get(url + "/readyz", timeout=5).json().get("model_version")
        if current == version:
            break
        time.sleep(0.3)
    return current


def serve_until_interrupted() -> None:
    console.print("[bold]services are up; Ctrl-C stops them[/]")
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        pass  # Ctrl-C is how the newcomer says "done": the caller stops the services
