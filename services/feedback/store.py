"""Label rules: idempotent events, a kept history, and the effective label by precedence.

Precedence (documented in docs/feedback.md): a chargeback beats an analyst's verdict, which beats
the card holder's in-app answer; within one source the latest arrival wins. The same label from the
same source as that source's latest event is the same label: it is not recorded twice.

Each label is written in one database transaction that first locks the scored transaction's row
(``FOR UPDATE`` on PostgreSQL; SQLite serialises writers with ``BEGIN IMMEDIATE``), so concurrent
posts for one payment are applied one after the other and none is lost or doubled. The arrival
time is read once the lock is held (and never before the payment's previous event), so the order
of arrivals is the order of commits: "latest" means the last one applied.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, delete, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from services.feedback.db import EffectiveLabel, LabelEvent, ScoredTransaction

PRECEDENCE = {"chargeback": 3, "analyst": 2, "in_app": 1}
LABELS = ("fraud", "legit")


class UnknownTransaction(LookupError):
    pass


class NotOwner(UnknownTransaction):
    """The payment belongs to another customer than the one labelling it: to that customer it
    is as unknown as a payment never scored (the answer must not tell which ids exist)."""


@dataclass(frozen=True)
class Recorded:
    event: LabelEvent
    created: bool  # False: the same label from this source was already the latest one
    effective: EffectiveLabel
    changed: bool  # the effective label changed (the profile store must hear of it)


def effective_of(events: Iterable[LabelEvent]) -> LabelEvent | None:
    """The event that decides: highest-precedence source, latest arrival (then id) within it."""
    best: LabelEvent | None = None
    for e in events:
        if best is None or (PRECEDENCE[e.source], e.arrived_at, e.id) > (
            PRECEDENCE[best.source],
            best.arrived_at,
            best.id,
        ):
            best = e
    return best


def lock_transaction(session: Session, transaction_id: str) -> ScoredTransaction:
    stmt = select(ScoredTransaction).where(ScoredTransaction.transaction_id == transaction_id)
    if session.get_bind().dialect.name == "postgresql":
        stmt = stmt.with_for_update()
    scored = session.execute(stmt).scalar_one_or_none()
    if scored is None:
        raise UnknownTransaction(transaction_id)
    return scored


def record_label(
    session: Session,
    transaction_id: str,
    label: str,
    source: str,
    actor: str,
    now: datetime | Callable[[], datetime],
    owner: str | None = None,
) -> Recorded:
    """Record one label event inside the caller's transaction (the caller commits); with
    ``owner``, only if the payment is that customer's (else NotOwner).

    ``now``: the arrival time, or the clock to read it from once the payment's row is locked
    (what the API passes: a time read before waiting for the lock would order the events by
    when they were sent, not by when they were applied). An event never arrives before the
    payment's previous one (clocks of several hosts differ), so within a source the latest
    arrival is the last one committed."""
    if label not in LABELS or source not in PRECEDENCE:
        raise ValueError(f"label {label!r} / source {source!r}")
    scored = lock_transaction(session, transaction_id)
    if owner is not None and scored.customer_id != owner:
        raise NotOwner(transaction_id)
    arrived = now() if callable(now) else now
    events = list(
        session.scalars(
            select(LabelEvent)
            .where(LabelEvent.transaction_id == transaction_id)
            .order_by(LabelEvent.id)
        )
    )
    same_source = [e for e in events if e.source == source]
    latest = max(same_source, key=lambda e: (e.arrived_at, e.id)) if same_source else None
    current = session.get(EffectiveLabel, transaction_id)
    if latest is not None and latest.label == label and current is not None:
        return Recorded(latest, False, current, False)
    arrived = max([arrived, *(e.arrived_at for e in events)])
    event = LabelEvent(
        transaction_id=transaction_id, label=label, source=source, actor=actor, arrived_at=arrived
    )
    session.add(event)
    session.flush()  # assigns the id
    winner = effective_of([*events, event])
    assert winner is not None
    before = current.label if current is not None else None
    if current is None:
        current = EffectiveLabel(transaction_id=transaction_id, profile_label=None)
        session.add(current)
    current.label, current.source = winner.label, winner.source
    current.event_id, current.arrived_at = winner.id, winner.arrived_at
    return Recorded(event, True, current, current.label != before)


def history(session: Session, transaction_id: str) -> list[LabelEvent]:
    return list(
        session.scalars(
            select(LabelEvent)
            .where(LabelEvent.transaction_id == transaction_id)
            .order_by(LabelEvent.arrived_at, LabelEvent.id)
        )
    )


def insert_scored(session: Session, rows: list[dict[str, Any]]) -> int:
    """Add scoring-log rows; a transaction already logged is kept as first logged. Returns the
    number of rows sent (duplicates included: the log is delivered at least once)."""
    if not rows:
        return 0
    dialect = session.get_bind().dialect.name
    insert = pg_insert if dialect == "postgresql" else sqlite_insert
    stmt = insert(ScoredTransaction).on_conflict_do_nothing(index_elements=["transaction_id"])
    session.execute(stmt, rows)
    return len(rows)


def pending_profile_labels(session: Session, limit: int = 500) -> list[tuple[EffectiveLabel, Any]]:
    """Effective labels the profile store has not heard yet, with their transactions."""
    stmt = (
        select(EffectiveLabel, ScoredTransaction)
        .join(ScoredTransaction)
        .where(
            (EffectiveLabel.profile_label.is_(None))
            | (EffectiveLabel.profile_label != EffectiveLabel.label)
        )
        .limit(limit)
    )
    return [(row[0], row[1]) for row in session.execute(stmt)]


def changed_labels_since(session: Session, since: datetime | None, batch: int = 1000) -> int:
    """Transactions whose effective label now differs from their effective label at ``since``
    (none then: any label now counts; ``since`` None: every labelled transaction): the new-data
    trigger's count. Events are not counted: 200 flips of one answer are one transaction at
    most, and none when it ends where it stood at ``since`` (what the dataset then knew)."""
    touched = select(LabelEvent.transaction_id).distinct()
    if since is not None:
        touched = touched.where(LabelEvent.arrived_at > since)
    ids = list(session.scalars(touched))
    changed = 0
    for i in range(0, len(ids), batch):
        events: dict[str, list[LabelEvent]] = {}
        chunk = select(LabelEvent).where(LabelEvent.transaction_id.in_(ids[i : i + batch]))
        for e in session.scalars(chunk):
            events.setdefault(e.transaction_id, []).append(e)
        for history in events.values():
            then = [e for e in history if since is not None and e.arrived_at <= since]
            changed += _label_of(history) != _label_of(then)
    return changed


def _label_of(events: Iterable[LabelEvent]) -> str | None:
    winner = effective_of(events)
    return winner.label if winner is not None else None


def delete_scored(
    session: Session, condition: ColumnElement[bool], limit: int | None = None
) -> tuple[list[tuple[str, str]], dict[str, int]]:
    """Remove scored transactions (with their label events and labels) matching ``condition``:
    erasure and retention. The rows are locked first, so a label being recorded concurrently
    finishes before, or finds the payment gone (404), never a half-deleted one.

    Returns the (transaction_id, terminal_id) pairs removed and the rows removed per table."""
    stmt = select(ScoredTransaction.transaction_id, ScoredTransaction.terminal_id).where(condition)
    if limit is not None:
        stmt = stmt.order_by(ScoredTransaction.scored_at).limit(limit)
    if session.get_bind().dialect.name == "postgresql":
        stmt = stmt.with_for_update()
    pairs = [(str(r[0]), str(r[1])) for r in session.execute(stmt)]
    counts = {"labels": 0, "label_events": 0, "scored_transactions": 0}
    for i in range(0, len(pairs), 500):
        ids = [p[0] for p in pairs[i : i + 500]]
        for name, table in (("labels", EffectiveLabel), ("label_events", LabelEvent),
                            ("scored_transactions", ScoredTransaction)):  # fmt: skip
            result: Any = session.execute(delete(table).where(table.transaction_id.in_(ids)))
            counts[name] += int(result.rowcount or 0)
    return pairs, counts
