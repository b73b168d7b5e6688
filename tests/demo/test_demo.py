"""``fraudops demo`` end to end on small data: an embedded Redis (no REDIS_URL), SQLite, the
three services as real processes, replay and feedback over HTTP, retrain, hot-swap, summary."""

from __future__ import annotations

import json
import os
import re
import secrets
import subprocess
import sys
from pathlib import Path

import pytest

from fraudops.rules.registry import RuleRegistry
from models.registry import Registry
from tests.alerts.receivers import WebhookReceiver

pytestmark = [pytest.mark.integration, pytest.mark.slow]


def test_the_whole_loop_ends_with_a_summary(tmp_path: Path) -> None:
    work = tmp_path / "demo"
    env = {k: v for k, v in os.environ.items() if k not in ("REDIS_URL", "DATABASE_URL")}
    # the alerts also go to a webhook whose URL is a credential, as a Slack one is: never logged
    webhook_secret = "T0FRAUD/B0OPS/" + secrets.token_hex(12)
    webhook = WebhookReceiver()
    env["FRAUDOPS_ALERTS_WEBHOOK_URL"] = f"{webhook.url}/services/{webhook_secret}"
    r = subprocess.run(
        [
            sys.executable,
            "-m",
            "fraudops.cli",
            "demo",
            "--workdir",
            str(work),
            "--customers",
            "300",
            "--terminals",
            "600",
            "--history-days",
            "36",
            "--replay-days",
            "3",
        ],
        capture_output=True,
        text=True,
        timeout=900,
        env=env,
    )
    webhook.close()
    assert r.returncode == 0, r.stderr[-4000:]
    s = json.loads((work / "summary.json").read_text())
    assert s["transactions"] > 500 and s["errors"] == 0
    assert sum(s["decisions"].values()) == s["transactions"]
    assert s["labels_sent"] > 0 and s["labels_accepted"] == s["labels_sent"]
    assert s["datasets"] == ["v1", "v2"]
    assert s["models"]["outcome"] in ("promoted", "refused")  # v2 passed the data gate
    production = Registry(work / "models").aliases()["production"]
    assert s["models"]["serving"] == production  # the running service hot-swapped (or kept m1)
    assert production == (
        s["models"]["candidate"] if s["models"]["outcome"] == "promoted" else s["models"]["first"]
    )
    assert Path(s["report"]).exists()
    assert webhook.calls > 0  # the alerts reached the webhook: its URL was in use
    assert "payments replayed" in r.stdout and "frauds caught" in r.stdout
    # the backtest line: m1 and the candidate replayed on the same live days of v2
    b = s["backtest"]
    assert b["dataset"] == "v2" and "backtest, live days of v2" in r.stdout
    replayed = [s["models"]["first"], s["models"]["candidate"]]
    assert list(b["models"]) == [v for v in replayed if v]
    totals = list(b["models"].values())
    assert all("error" not in t for t in totals), totals
    assert len({t["payments"] for t in totals}) == 1 and totals[0]["payments"] > 0
    assert len({(t["from"], t["to"]) for t in totals}) == 1
    # the shadow line: the challenger (set before the replay) shadow-scored every stored payment
    # but those its CPU budget skipped; AP on the labelled ones, null when no fraud is labelled
    sh = s["shadow"]
    assert "shadow, labelled live payments" in r.stdout
    assert sh["challenger"] not in (s["models"]["first"], s["models"]["candidate"])
    assert sh["shadow_scored"] + sh["skipped"] == s["transactions"] and sh["shadow_scored"] > 0
    assert sh["skipped"] <= s["transactions"] // 10, sh
    assert 0 < sh["labelled"] <= s["labels_sent"]
    for ap in (sh["champion_ap"], sh["challenger_ap"]):
        assert (ap is None) if sh["frauds"] == 0 else (0 <= ap <= 1)
    # the challenger never reached production: the retrain flow compared m1 with its candidate
    assert production in (s["models"]["first"], s["models"]["candidate"])
    # the rules line: mid-run an analyst listed terminals found in the confirmed frauds (the
    # labels, not the simulator's secret) and the admin activated r1 in the console; from then
    # on every payment at a listed terminal carries the rule in its answer, none before did
    ru = s["rules"]
    assert "rules, activated mid-run" in r.stdout and ru["version"] == "r1", ru
    assert 0 < ru["activated_after"] < s["transactions"]
    assert ru["list"] == "compromised_terminals" and 1 <= len(ru["terminals"]) <= 5
    assert ru["hits_before"] == 0
    assert ru["listed_payments_after"] > 0
    assert ru["hits"] == {"compromised_terminal": ru["listed_payments_after"]}
    assert ru["metric_hits"] == ru["hits"]  # what Prometheus scrapes agrees with the answers
    assert ru["frauds_caught"] >= ru["frauds_only_the_rule_caught"] >= 0 and ru["legit_held"] >= 0
    assert ru["frauds_caught"] + ru["legit_held"] == ru["listed_payments_after"]
    decisions = RuleRegistry(work / "rules").history()
    assert [(d["action"], d["version"], d["by"]) for d in decisions] == [
        ("publish", "r1", "admin"),
        ("activate", "r1", "admin"),
    ]
    # logs carry ids, never secrets or credentials: scan every log of the run
    logs = "\n".join([r.stderr, *(p.read_text(errors="replace") for p in work.glob("*.log"))])
    assert "Traceback" not in logs, logs[-3000:]
    for what, pattern in {
        "an API key": r"fo_[A-Za-z0-9_-]{20,}",
        "a user token (JWT)": r"eyJ[\w-]{10,}\.[\w-]{10,}\.[\w-]{10,}",
        "an Authorization header": r"(?i)authorization:|bearer [a-z0-9]",
        "a password or its hash": r"(?i)password|pbkdf2_sha256\$",
        "an e-mail address": r"[\w.+-]+@[\w-]+\.[\w.]+",
        "the webhook URL's secret": re.escape(webhook_secret.rsplit("/", 1)[1]),
        "the webhook URL's path": re.escape("/hook/services"),
    }.items():
        found = re.search(pattern, logs)
        assert found is None, f"{what} in the logs: {found.group(0) if found else ''}"
    # the run's processes are gone: no service answers on the console's port any more
    port = int(s["console"].split(":")[2].split("/")[0])
    with pytest.raises(OSError):
        import socket

        socket.create_connection(("127.0.0.1", port), timeout=1).close()
