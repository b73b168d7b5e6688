"""PostgreSQL under pressure: 200 concurrent posts to a real server, and the database restarting
while labels stream in."""

from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
import threading
import time
from collections import Counter
from pathlib import Path

import httpx
import psycopg
import pytest
import redis

from fraudops.profile_store.commands import StoreConfig
from tests.feedback.conftest import bearer, feedback_env, label, log_scored
from tests.services.conftest import Server

pytestmark = pytest.mark.integration


def counts(url: str) -> tuple[int, int, int]:
    with psycopg.connect(url) as conn:
        events = conn.execute("SELECT count(*) FROM label_events").fetchone()
        distinct = conn.execute(
            "SELECT count(DISTINCT (transaction_id, source, label)) FROM label_events"
        ).fetchone()
        labels = conn.execute("SELECT count(*) FROM labels").fetchone()
    assert events and distinct and labels
    return int(events[0]), int(distinct[0]), int(labels[0])


def test_200_concurrent_posts_lose_none_and_duplicate_none(
    postgres_url: str, feedback_keys: dict[str, str], store_config: StoreConfig,
    redis_client: redis.Redis,
) -> None:  # fmt: skip
    ids = [f"c-{i}" for i in range(150)]
    for i, tx in enumerate(ids):
        log_scored(redis_client, store_config.prefix, tx, f"cust-{i % 40}", f"term-{i % 7}")
    # 150 distinct labels + 50 exact repeats racing their originals, across 2 worker processes
    posts = [label(t, "fraud", "analyst") for t in ids] + [
        label(t, "fraud", "analyst") for t in ids[:50]
    ]
    server = Server(feedback_env(postgres_url, feedback_keys, store_config.prefix), workers=2,
                    service="feedback")  # fmt: skip
    try:

        async def run() -> list[int]:
            h = bearer(feedback_keys["analyst"])
            async with httpx.AsyncClient(base_url=server.url, timeout=30) as client:
                rs = await asyncio.gather(*(client.post("/v1/feedback", json=p, headers=h)
                                            for p in posts))  # fmt: skip
            return [r.status_code for r in rs]

        statuses = Counter(asyncio.run(run()))
    finally:
        out = server.stop()
    assert statuses == {201: 150, 200: 50}, (statuses, out[-2000:])
    assert counts(postgres_url) == (150, 150, 150)
    assert "Traceback" not in out


def started_at(url: str) -> object:
    with psycopg.connect(url) as conn:
        row = conn.execute("SELECT pg_postmaster_start_time()").fetchone()
    assert row
    return row[0]


def restart_postgres(url: str) -> str:
    """A real restart where this machine lets us; else every connection is killed (what a
    restart does to clients). Fails unless the fault happened: the server started anew, or at
    least one other connection (the service's) was ended."""
    clusters = Path("/etc/postgresql")
    if shutil.which("pg_ctlcluster") and os.geteuid() == 0 and clusters.is_dir():
        version = sorted(p.name for p in clusters.iterdir())[0]
        before = started_at(url)
        subprocess.run(["pg_ctlcluster", "--skip-systemctl-redirect", version, "main", "restart"],
                       check=True, capture_output=True, timeout=60)  # fmt: skip
        assert started_at(url) != before, "PostgreSQL did not restart"
        return "restart"
    with psycopg.connect(url, autocommit=True) as conn:
        ended = conn.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                             "WHERE datname = current_database() AND pid <> pg_backend_pid()"
                             ).fetchall()  # fmt: skip
    assert any(ok for (ok,) in ended), "no connection of the service was ended"
    return "terminate"


def test_database_restart_mid_stream_loses_no_label(
    postgres_url: str, feedback_keys: dict[str, str], store_config: StoreConfig,
    redis_client: redis.Redis,
) -> None:  # fmt: skip
    ids = [f"r-{i}" for i in range(120)]
    for tx in ids:
        log_scored(redis_client, store_config.prefix, tx, "cust-r", "term-r")
    server = Server(feedback_env(postgres_url, feedback_keys, store_config.prefix),
                    service="feedback")  # fmt: skip
    seen: Counter[int] = Counter()
    restarted = threading.Event()
    sent = 0  # labels answered so far
    fault: dict[str, int | str] = {}

    def restart_later() -> None:
        time.sleep(0.5)
        fault["began"] = sent
        fault["mode"] = restart_postgres(postgres_url)
        fault["ended"] = sent
        restarted.set()

    try:
        threading.Thread(target=restart_later, daemon=True).start()
        h = bearer(feedback_keys["chargebacks"])
        with httpx.Client(base_url=server.url, timeout=10) as client:
            for tx in ids:  # a client that retries what the service says to retry
                for _attempt in range(100):
                    try:
                        r = client.post("/v1/feedback", json=label(tx, "fraud", "chargeback"),
                                        headers=h)  # fmt: skip
                    except httpx.TransportError:
                        seen[-1] += 1
                        time.sleep(0.1)
                        continue
                    seen[r.status_code] += 1
                    if r.status_code != 503:
                        break
                    assert r.headers.get("retry-after") == "1"
                    time.sleep(0.1)
                sent += 1
                time.sleep(0.02)
        assert restarted.wait(60)
        assert "mode" in fault, "the restart failed"  # its thread's assertion
    finally:
        out = server.stop()
    print("statuses during the restart:", dict(seen), "fault:", fault)
    # the fault hit mid-stream: labels were stored before it began and sent after it ended
    assert int(fault["began"]) > 0 and int(fault["ended"]) < len(ids), fault
    assert set(seen) <= {200, 201, 503}, (seen, out[-3000:])
    assert seen[201] == len(ids), seen  # each label created exactly once
    assert counts(postgres_url) == (len(ids), len(ids), len(ids))
