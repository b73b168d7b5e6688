"""Right to erasure: every trace of one customer removed from Redis and the SQL stores, the
erasure recorded in an audit log, and the customer excluded from later dataset builds.

Order matters, so that a crash at any step leaves a state a rerun completes:

1. the audit row goes in first (subject = keyed pseudonym, never the id): from then on dataset
   builds and backfills exclude the customer, even if the rest fails;
2. scoring-log and dead-letter stream entries, then the SQL rows (feedback, alerts), then the
   Redis keys (profile, idempotency and label markers, stored answers);
3. after ``settle_s``, all of step 2 once more: a consumer that read an entry just before step 2
   may have committed it just after, and the label sync may have written a label marker;
4. the audit row gets the counts and ``completed_at``.

What stays: immutable dataset versions and feedback exports built before (``find_in_datasets``
lists them; delete them under the retention policy), and idempotency markers of terminals for
payments that were never scored (named by transaction id only; they expire with the dedup TTL).
"""

from __future__ import annotations

import json
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import orjson
import pyarrow.dataset as pads
from sqlalchemy.orm import Session, sessionmaker

from fraudops import datasets, redis_clients
from fraudops.profile_store.layout import answer_key, dedup_key, entity_key, label_key
from fraudops.pseudonyms import pseudonym
from services.alerts.db import delete_customer_alerts
from services.alerts.outbox import dead_letter_key
from services.common import scoring_log
from services.feedback import store
from services.feedback.db import Erasure, ScoredTransaction

SCAN_COUNT = 2000
GLOB_SPECIAL = str.maketrans({c: "\\" + c for c in "*?[]\\"})


@dataclass
class Stores:
    redis: redis_clients.SyncClient  # one Redis or a cluster
    prefix: str
    feedback: sessionmaker[Session]
    alerts: sessionmaker[Session] | None  # None: the alerts tables live in the feedback database
    log_shards: int = 1  # the scoring log's streams (FRAUDOPS_LOG_SHARDS)


@dataclass
class ErasureResult:
    erasure_id: int
    subject: str
    removed: Counter[str] = field(default_factory=Counter)
    transactions: set[tuple[str, str]] = field(default_factory=set)  # (transaction, terminal)


def _stream_entries(
    client: redis_clients.SyncClient, stream: str
) -> Iterator[tuple[bytes, dict[bytes, bytes]]]:
    start = "-"
    while True:
        batch: Any = client.xrange(stream, min=start, max="+", count=SCAN_COUNT)
        yield from batch
        if len(batch) < SCAN_COUNT:
            return
        start = "(" + batch[-1][0].decode()


def _purge_scoring_log(stores: Stores, customer_id: str, result: ErasureResult) -> None:
    # every stream, not only the customer's shard: the number of shards may have changed since
    for stream in scoring_log.consumer_keys(stores.prefix, stores.log_shards):
        doomed = []
        for entry_id, fields in _stream_entries(stores.redis, stream):
            try:
                d = orjson.loads(fields[scoring_log.FIELD])
            except (KeyError, ValueError):
                continue
            if str(d.get("customer_id")) == customer_id:
                doomed.append(entry_id)
                result.transactions.add((str(d["transaction_id"]), str(d["terminal_id"])))
        _xdel(stores.redis, stream, doomed, "scoring_log_entries", result)


def _purge_dead_letters(stores: Stores, result: ErasureResult) -> None:
    stream = dead_letter_key(stores.prefix)
    keys = {f"tx:{tx}".encode() for tx, _ in result.transactions}
    doomed = [eid for eid, f in _stream_entries(stores.redis, stream) if f.get(b"key") in keys]
    _xdel(stores.redis, stream, doomed, "alert_dead_letters", result)


def _xdel(
    client: redis_clients.SyncClient, stream: str, ids: list[bytes], name: str, r: ErasureResult
) -> None:
    for i in range(0, len(ids), 1000):
        r.removed[name] += int(client.xdel(stream, *ids[i : i + 1000]))


def _purge_sql(stores: Stores, customer_id: str, result: ErasureResult) -> None:
    with stores.feedback.begin() as session:
        pairs, counts = store.delete_scored(session, ScoredTransaction.customer_id == customer_id)
        if stores.alerts is None:
            counts.update(delete_customer_alerts(session, customer_id))
    if stores.alerts is not None:
        with stores.alerts.begin() as session:
            counts.update(delete_customer_alerts(session, customer_id))
    result.transactions.update(pairs)
    result.removed.update(counts)


def _purge_keys(stores: Stores, customer_id: str, result: ErasureResult) -> None:
    r, prefix = stores.redis, stores.prefix
    own = entity_key(prefix, "customer", customer_id)
    # on a cluster every master is scanned (the entity's keys share a slot, but a slot being
    # migrated has keys on two masters)
    keys = set(redis_clients.scan_iter(r, own.translate(GLOB_SPECIAL) + "*", SCAN_COUNT))
    keys = {k for k in keys if k == own.encode() or k.startswith(own.encode() + b":")}
    for tx, terminal in result.transactions:
        for name in (answer_key(prefix, tx), dedup_key(prefix, "terminal", terminal, tx),
                     label_key(prefix, "terminal", terminal, tx)):  # fmt: skip
            keys.add(name.encode())
    doomed = sorted(keys)
    for i in range(0, len(doomed), 1000):  # a cluster client splits the keys by slot
        result.removed["redis_keys"] += int(r.unlink(*doomed[i : i + 1000]))


def erase_customer(
    stores: Stores,
    customer_id: str,
    key: bytes,
    actor: str,
    reason: str,
    clock: Callable[[], datetime],
    settle_s: float = 2.0,
) -> ErasureResult:
    subject = pseudonym(key, customer_id)
    with stores.feedback.begin() as session:
        row = Erasure(subject=subject, actor=actor, reason=reason, requested_at=clock())
        session.add(row)
        session.flush()
        result = ErasureResult(int(row.id), subject)
    for attempt in range(2):
        if attempt:
            time.sleep(settle_s)
        _purge_scoring_log(stores, customer_id, result)
        _purge_sql(stores, customer_id, result)
        _purge_dead_letters(stores, result)
        _purge_keys(stores, customer_id, result)
    with stores.feedback.begin() as session:
        done = session.get(Erasure, result.erasure_id)
        assert done is not None
        done.completed_at = clock()
        done.removed = json.dumps(dict(sorted(result.removed.items())))
    return result


def find_in_datasets(root: Path, customer_id: str) -> dict[str, int]:
    """Rows of the customer in the immutable files under a datasets directory (versions and
    feedback exports), which an erasure does not rewrite: {relative path: rows}."""
    found: dict[str, int] = {}
    candidates = [path for _, path in datasets.version_dirs(root)]
    candidates += sorted(
        p for p in (root / "inputs").glob("*") if p.is_dir() and not p.name.startswith(".")
    )
    for path in candidates:
        files = sorted(path.glob("*.parquet"))
        if not files:
            continue
        data = pads.dataset([str(f) for f in files], format="parquet")
        if "customer_id" not in data.schema.names:
            continue
        rows = data.count_rows(filter=pads.field("customer_id") == customer_id)
        if rows:
            found[str(path.relative_to(root))] = rows
    return found
