"""Right to erasure, end to end on the real Redis and PostgreSQL: a customer with backfilled
profiles, scored payments, labels and alerts is erased; nothing of theirs is left in Redis or the
databases, the audit log names them only by pseudonym, and the next dataset version and a new
backfill leave them out."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
import redis
import sqlalchemy as sa

from fraudops import datasets
from fraudops.profile_store.client import ProfileStore
from fraudops.profile_store.commands import StoreConfig
from fraudops.pseudonyms import pseudonym
from fraudops.readers import iter_txns
from fraudops.simulator import SimulationConfig, simulate
from services.alerts.consumer import AlertConsumer
from services.alerts.db import upgrade as upgrade_alerts
from services.alerts.notify import Notifier
from services.alerts.outbox import dead_letter_key
from services.alerts.settings import AlertsSettings
from services.common import scoring_log
from services.common.db import make_engine, session_factory, utcnow
from services.feedback import store
from services.feedback.db import upgrade
from services.feedback.ingest import ScoringLogIngestor
from services.feedback.profiles import ProfileLabelSync
from tests.cli import run_cli
from tests.conftest import TEST_REDIS_URL
from tests.feedback.conftest import postgres_url  # noqa: F401

pytestmark = [pytest.mark.integration, pytest.mark.slow]
KEY = "erasure-key-for-tests-only-0123456789abcdef"


def cli(env: dict[str, str], *args: str) -> Any:
    r = run_cli(*args, env=env)
    assert r.returncode == 0, r.stderr[-3000:]
    return r


def redis_dump(client: redis.Redis, prefix: str) -> list[bytes]:
    """Every key of the prefix and every value it holds, as bytes."""
    out: list[bytes] = []
    for key in client.scan_iter(match=f"{prefix}:*", count=1000):
        out.append(key)
        kind = client.type(key)
        if kind == b"hash":
            for f, v in client.hgetall(key).items():
                out += [f, v]
        elif kind == b"string":
            out.append(client.get(key) or b"")
        elif kind == b"stream":
            for _, fields in client.xrange(key):
                out += [v for kv in fields.items() for v in kv]
    return out


def traces(dump: list[bytes], tokens: set[bytes]) -> list[bytes]:
    return [v for v in dump if any(t in v for t in tokens)]


def sql_values(url: str) -> set[str]:
    engine = make_engine(url)
    values: set[str] = set()
    with engine.connect() as conn:
        for table in sa.inspect(engine).get_table_names():
            for row in conn.execute(sa.text(f'SELECT * FROM "{table}"')):
                values.update(str(v) for v in row)
    engine.dispose()
    return values


def test_erasure_leaves_no_trace_and_later_versions_exclude_the_customer(
    tmp_path: Path,
    postgres_url: str,  # noqa: F811
    store_config: StoreConfig,
    redis_client: redis.Redis,
) -> None:
    prefix = store_config.prefix
    env = {"DATABASE_URL": postgres_url, "REDIS_URL": TEST_REDIS_URL,
           "FRAUDOPS_KEY_PREFIX": prefix, "FRAUDOPS_ERASURE_KEY": KEY}  # fmt: skip
    history = simulate(SimulationConfig(customers=60, terminals=120, days=20, seed=5))
    split = history["timestamp"].min() + pd.Timedelta(days=15)
    busiest = history.customer_id[history.timestamp >= split].value_counts().index
    target, other = "erase-me-0042", str(busiest[1])  # the most active customer now, renamed
    history = history.assign(customer_id=history.customer_id.replace(busiest[0], target))
    mine = history[history.customer_id == target]
    history.loc[mine.index, "transaction_id"] = [f"tx-erase-{i}" for i in range(len(mine))]
    mine = history[history.customer_id == target]
    past, live = history[history.timestamp < split], history[history.timestamp >= split]
    past.to_parquet(tmp_path / "history.parquet", index=False)
    out = tmp_path / "ds"
    cli(env, "dataset", "build", "--history", str(tmp_path / "history.parquet"), "--out", str(out))
    cli(env, "backfill", "--history", str(tmp_path / "history.parquet"), "--as-of",
        split.isoformat())  # fmt: skip

    # live traffic as the scoring service leaves it: profiles, stored answers, the scoring log
    profiles = ProfileStore(redis_client, store_config)
    for tx in iter_txns(live):
        profiles.apply_transaction(tx)
        decision = "review" if tx.customer_id in (target, other) else "approve"
        redis_client.set(f"{prefix}:r:{tx.transaction_id}", json.dumps(
            {"transaction_id": tx.transaction_id, "decision": decision}), ex=3600)  # fmt: skip
        entry = scoring_log.encode(tx, [tx.amount_milli], 0.7, decision, "m1", False,
                                   float(tx.ts + 1))  # fmt: skip
        redis_client.xadd(scoring_log.stream_key(prefix), {scoring_log.FIELD: entry})
    engine = make_engine(postgres_url)
    upgrade(engine)
    upgrade_alerts(engine)
    sessions = session_factory(engine)
    ScoringLogIngestor(redis_client, sessions, prefix, "feedback", "t").drain()
    settings = AlertsSettings(dedup_window_s=0)
    notifier = Notifier([], sessions, settings, utcnow)
    AlertConsumer(redis_client, prefix, "t", sessions, notifier, settings, utcnow).drain()
    my_live = live[live.customer_id == target].transaction_id.tolist()
    redis_client.xadd(dead_letter_key(prefix), {"key": f"tx:{my_live[0]}", "channel": "email",
                                                "error": "550", "title": "x"})  # fmt: skip
    now = datetime.now(UTC)
    with sessions.begin() as s:  # the card holder and an analyst label two of the payments
        store.record_label(s, my_live[0], "fraud", "in_app", f"user:{target}", now)
        store.record_label(s, my_live[1], "legit", "analyst", "ana", now)
        store.record_label(s, live[live.customer_id == other].transaction_id.iloc[0], "fraud",
                           "analyst", "ana", now)  # fmt: skip
    assert ProfileLabelSync(profiles, sessions).run_once() == 3
    mine_ids = {t.encode() for t in mine.transaction_id}
    dump = redis_dump(redis_client, prefix)
    assert traces(dump, {target.encode()}) and traces(dump, mine_ids)
    assert target in sql_values(postgres_url)

    r = cli(env, "erase", "--customer", target, "--reason", "ticket 42", "--actor", "dpo",
            "--datasets", str(out), "--settle-s", "0.2", "--json")  # fmt: skip
    report = json.loads(r.stdout)
    removed = report["removed"]
    assert removed["scored_transactions"] == len(my_live) == removed["scoring_log_entries"]
    assert removed["label_events"] == 2 and removed["alerts"] == len(my_live)
    assert removed["alert_dead_letters"] == 1 and removed["redis_keys"] > len(my_live)
    assert report["immutable_files_with_rows"] == {"v1": int((past.customer_id == target).sum())}
    assert report["subject"] == pseudonym(KEY.encode(), target)

    # no trace: no key, field or value in Redis, no value in any table names them or their payments
    dump = redis_dump(redis_client, prefix)
    assert not traces(dump, {target.encode(), *(t.encode() for t in my_live)})
    # what stays: terminals' "already counted" markers of backfilled, never scored payments
    # (named by transaction id alone; nothing links them to the customer) until their TTL
    for key in traces(dump, mine_ids):
        assert b":t:{" in key and b":x:tx-erase-" in key
        assert 0 < redis_client.ttl(key) <= store_config.dedup_ttl_s
    values = sql_values(postgres_url)
    assert target not in values and not values & set(mine.transaction_id)
    assert other in values  # other customers untouched
    with sessions() as s:
        audit = s.execute(sa.text("SELECT subject, actor, reason, completed_at, removed "
                                  "FROM erasures")).one()  # fmt: skip
    assert audit[:3] == (report["subject"], "dpo", "ticket 42") and audit[3] is not None
    assert json.loads(audit[4]) == removed

    # the next dataset version (parent's history + feedback) and a new backfill leave them out
    v2 = cli(env, "dataset", "build", "--feedback", "--out", str(out), "--label-cutoff",
             (now + timedelta(minutes=1)).isoformat()).stdout.strip().splitlines()[-1]  # fmt: skip
    frame = datasets.load_dataset(out, v2)
    manifest = datasets.read_manifest(out, v2)
    assert target not in set(frame.customer_id) and other in set(frame.customer_id)
    assert not set(frame.transaction_id) & set(mine.transaction_id)
    assert manifest["rows"] == len(history) - len(mine)
    excluded = int((past.customer_id == target).sum())
    assert manifest["erasures"] == {"customers": 1, "transactions_excluded": excluded}
    cli(env, "backfill", "--history", str(tmp_path / "history.parquet"), "--as-of",
        split.isoformat())  # fmt: skip
    assert not traces(redis_dump(redis_client, prefix), {target.encode()})

    # without the key the ledger cannot be honoured: the build refuses instead of including them
    r = run_cli("dataset", "build", "--feedback", "--out", str(out),
                env={**env, "FRAUDOPS_ERASURE_KEY": ""})  # fmt: skip
    assert r.returncode == 1 and "FRAUDOPS_ERASURE_KEY" in r.stderr
    engine.dispose()
