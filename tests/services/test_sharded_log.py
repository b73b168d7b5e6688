"""The scoring log in shards (FRAUDOPS_LOG_SHARDS): a real scoring server spreads its entries over
the streams, one customer's in one stream in scoring order; the feedback and alerts consumer
groups take every entry of every stream, and of the unsharded stream of before."""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path

import httpx
import orjson
import pytest
import redis
from sqlalchemy import func, select

from fraudops.profile_store.commands import StoreConfig
from services.alerts.consumer import AlertConsumer
from services.alerts.db import Alert
from services.alerts.db import upgrade as upgrade_alerts
from services.alerts.notify import Notifier
from services.alerts.settings import AlertsSettings
from services.common import scoring_log
from services.common.db import utcnow
from services.feedback.db import ScoredTransaction, make_engine, session_factory, upgrade
from services.feedback.ingest import ScoringLogIngestor
from tests.feedback.conftest import log_scored
from tests.services.conftest import PAYMENT, Server, auth

pytestmark = [pytest.mark.integration, pytest.mark.slow]
SHARDS = 4


def test_shards_keep_each_customer_in_order_and_consumers_take_every_stream(
    scoring_env: dict[str, str], keys: dict[str, str], redis_client: redis.Redis,
    store_config: StoreConfig, tmp_path: Path,
) -> None:  # fmt: skip
    prefix = store_config.prefix
    for i in range(5):  # written before the deployment was sharded
        log_scored(redis_client, prefix, f"old-{i}", f"oc{i}", decision="decline")
    server = Server({**scoring_env, "FRAUDOPS_LOG_SHARDS": str(SHARDS)}, workers=2)
    sent: list[str] = []
    try:
        with httpx.Client(base_url=server.url, headers=auth(keys["score"])) as client:
            for i in range(160):
                tx = {**PAYMENT, "transaction_id": f"sh-{i}", "customer_id": f"sc{i % 23}",
                      "amount": f"{50 + i * 13 % 4000}.00",
                      "timestamp": f"2026-11-26T11:{i // 60:02d}:{i % 60:02d}Z"}  # fmt: skip
                assert client.post("/v1/score", json=tx).status_code == 200
                sent.append(tx["transaction_id"])
    finally:
        out = server.stop()  # its last flush writes every entry
    assert "Traceback" not in out, out[-3000:]

    streams = scoring_log.stream_keys(prefix, SHARDS)
    assert len(set(streams)) == SHARDS and scoring_log.stream_key(prefix) not in streams
    where: dict[str, set[str]] = defaultdict(set)  # customer -> streams holding its entries
    order: dict[str, list[str]] = defaultdict(list)
    for stream in streams:
        entries = redis_client.xrange(stream)
        assert entries, f"{stream} got nothing: the customers are not spread"
        for _, fields in entries:
            d = orjson.loads(fields[scoring_log.FIELD])
            where[d["customer_id"]].add(stream)
            order[d["customer_id"]].append(d["transaction_id"])
    assert sum(len(v) for v in order.values()) == len(sent)  # each once, none lost
    assert all(len(s) == 1 for s in where.values()), where
    for customer, txs in order.items():  # in scoring order within the customer's stream
        assert txs == [t for t in sent if f"sc{int(t.split('-')[1]) % 23}" == customer]

    engine = make_engine(f"sqlite:///{tmp_path}/feedback.db")
    upgrade(engine)
    upgrade_alerts(engine)
    sessions = session_factory(engine)
    ingestor = ScoringLogIngestor(redis_client, sessions, prefix, "feedback", "t", batch=7,
                                  shards=SHARDS)  # fmt: skip
    assert ingestor.drain() == len(sent) + 5
    assert ingestor.lag() == 0 and ingestor.drain() == 0
    settings = AlertsSettings(dedup_window_s=0)
    alerts = AlertConsumer(redis_client, prefix, "t", sessions, Notifier([], sessions, settings,
                           utcnow), settings, utcnow, shards=SHARDS)  # fmt: skip
    alerts.drain()
    assert alerts.lag() == 0
    with sessions() as s:
        assert s.scalar(select(func.count()).select_from(ScoredTransaction)) == len(sent) + 5
        alerted = set(s.scalars(select(Alert.transaction_id)))
    flagged = {t for t, d in decisions(redis_client, streams).items() if d != "approve"}
    assert alerted == flagged | {f"old-{i}" for i in range(5)}
    engine.dispose()


def decisions(client: redis.Redis, streams: list[str]) -> dict[str, str]:
    out = {}
    for stream in streams:
        for _, fields in client.xrange(stream):
            d = orjson.loads(fields[scoring_log.FIELD])
            out[d["transaction_id"]] = d["decision"]
    return out
