"""The new-labels trigger's count: transactions whose effective label changed since the
production model's dataset, never label events (on SQLite and PostgreSQL)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy.orm import Session

from services.feedback import store
from services.feedback.db import make_engine, session_factory, upgrade

pytestmark = pytest.mark.integration
CUTOFF = datetime(2026, 11, 1, 12, tzinfo=UTC)  # the production dataset's label cut-off


def scored(tx: str) -> dict[str, object]:
    at = CUTOFF - timedelta(days=2)
    return {
        "transaction_id": tx, "timestamp": at, "customer_id": "c1", "terminal_id": "t1",
        "amount": 10, "currency": "EUR", "mcc": "5411", "country": "FR", "channel": "ecommerce",
        "score": 0.5, "decision": "review", "model_version": "m1", "degraded": False,
        "features": "[]", "scored_at": at,
    }  # fmt: skip


@pytest.fixture
def session(database_url: str) -> Iterator[Session]:
    engine = make_engine(database_url)
    upgrade(engine)
    with session_factory(engine)() as s:
        yield s
    engine.dispose()


def label(s: Session, tx: str, value: str, source: str, minutes: int) -> None:
    """One event arriving ``minutes`` after the cut-off (negative: the dataset knew it)."""
    store.record_label(s, tx, value, source, "test", CUTOFF + timedelta(minutes=minutes))


def flips(s: Session, tx: str, times: int, first: str = "legit") -> None:
    other = {"legit": "fraud", "fraud": "legit"}
    value = first
    for i in range(times):
        label(s, tx, value, "in_app", 1 + i)
        value = other[value]


def test_count_changed_transactions_not_events(session: Session) -> None:
    txs = ["back", "new", "changed", "outranked", *(f"d{i}" for i in range(5))]
    store.insert_scored(session, [scored(tx) for tx in txs])
    label(session, "back", "fraud", "in_app", -60)
    label(session, "changed", "legit", "in_app", -60)
    label(session, "outranked", "fraud", "chargeback", -60)
    session.commit()
    assert store.changed_labels_since(session, CUTOFF) == 0

    # 200 flips of one payment the dataset had no label for: one changed transaction
    flips(session, "new", 200)
    assert store.changed_labels_since(session, CUTOFF) == 1
    # 200 flips ending on the label the dataset had (fraud): nothing changed
    flips(session, "back", 200)
    assert store.changed_labels_since(session, CUTOFF) == 1
    # the card holder's answers do not move a chargeback's label
    flips(session, "outranked", 3)
    assert store.changed_labels_since(session, CUTOFF) == 1
    # N distinct changed payments count N (one of them relabelled: legit -> fraud)
    label(session, "changed", "fraud", "analyst", 5)
    for i in range(5):
        label(session, f"d{i}", "fraud", "chargeback", 10 + i)
    session.commit()
    assert store.changed_labels_since(session, CUTOFF) == 7
    assert store.changed_labels_since(session, CUTOFF, batch=2) == 7  # batching changes nothing
    # no cut-off (the dataset took no feedback): every labelled payment is new
    assert store.changed_labels_since(session, None) == len(txs)
