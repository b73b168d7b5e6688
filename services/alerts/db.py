"""The alerts service's tables: the alert queue the console shows, one row per delivery to a
channel (the per-channel work queue while pending, and what makes a restarted consumer skip what
it already queued) and the dead-letter outbox (dead letters waiting for Redis)."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import (
    BigInteger,
    Float,
    ForeignKey,
    Index,
    Integer,
    Numeric,
    String,
    Text,
    UniqueConstraint,
    delete,
    select,
)
from sqlalchemy.engine import Engine
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column

from services.common import db

ID = String(128)
BIGID = BigInteger().with_variant(Integer, "sqlite")
VERSION_TABLE = "alembic_version_alerts"
# BIGID's range on both databases (PostgreSQL BIGINT, SQLite INTEGER): an id outside it is no
# alert, and asking the database would fail (PostgreSQL: out of range; SQLite: OverflowError)
ID_MIN, ID_MAX = -(2**63), 2**63 - 1


class Base(DeclarativeBase):
    pass


class Alert(Base):
    __tablename__ = "alerts"

    id: Mapped[int] = mapped_column(BIGID, primary_key=True, autoincrement=True)
    transaction_id: Mapped[str] = mapped_column(ID, unique=True)
    customer_id: Mapped[str] = mapped_column(ID, index=True)
    terminal_id: Mapped[str] = mapped_column(ID, index=True)
    timestamp: Mapped[datetime] = mapped_column(db.UtcDateTime)
    amount: Mapped[Any] = mapped_column(Numeric(18, 3))
    currency: Mapped[str | None] = mapped_column(String(3))
    channel: Mapped[str | None] = mapped_column(String(32))
    score: Mapped[float] = mapped_column(Float)
    decision: Mapped[str] = mapped_column(String(16))
    model_version: Mapped[str] = mapped_column(String(32))
    reasons: Mapped[str] = mapped_column(Text)  # JSON [{feature, value, contribution}]
    features: Mapped[str] = mapped_column(Text)  # JSON list in the model's feature order
    tags: Mapped[str] = mapped_column(String(256))  # comma-separated
    severity: Mapped[str] = mapped_column(String(8))
    grouped_with: Mapped[int | None] = mapped_column(BIGID)  # deduplicated into that alert
    created_at: Mapped[datetime] = mapped_column(db.UtcDateTime, index=True)
    status: Mapped[str] = mapped_column(String(8), index=True)  # open | fraud | legit
    labelled_by: Mapped[str | None] = mapped_column(String(128))
    labelled_at: Mapped[datetime | None] = mapped_column(db.UtcDateTime)


class Delivery(Base):
    __tablename__ = "alert_deliveries"
    __table_args__ = (
        UniqueConstraint("alert_key", "channel"),
        Index("ix_alert_deliveries_due", "channel", "status", "next_at"),
    )

    id: Mapped[int] = mapped_column(BIGID, primary_key=True, autoincrement=True)
    alert_key: Mapped[str] = mapped_column(String(200))  # "tx:<id>" or "am:<fingerprint>:<status>"
    alert_id: Mapped[int | None] = mapped_column(ForeignKey("alerts.id"))
    channel: Mapped[str] = mapped_column(String(16))
    status: Mapped[str] = mapped_column(String(8))  # pending | sent | dead
    attempts: Mapped[int] = mapped_column(Integer)  # made so far (one more each claim)
    error: Mapped[str | None] = mapped_column(Text)
    at: Mapped[datetime] = mapped_column(db.UtcDateTime)  # queued, then delivered or given up
    # pending only: when it may next be tried (a claim moves it a lease ahead) and the message
    next_at: Mapped[datetime | None] = mapped_column(db.UtcDateTime)
    payload: Mapped[str | None] = mapped_column(Text)  # JSON, ASCII; dropped once done


class Outbox(Base):
    """A dead letter written with its delivery's final record, published to Redis later."""

    __tablename__ = "alert_outbox"

    id: Mapped[int] = mapped_column(BIGID, primary_key=True, autoincrement=True)
    uid: Mapped[str] = mapped_column(String(36), unique=True)  # the publish's dedup id
    alert_key: Mapped[str] = mapped_column(String(200), index=True)
    fields: Mapped[str] = mapped_column(Text)  # JSON: the stream entry's fields
    created_at: Mapped[datetime] = mapped_column(db.UtcDateTime)


def get_alert(session: Session, alert_id: int) -> Alert | None:
    """The alert, or None when there is none (an id beyond the column's range included)."""
    return session.get(Alert, alert_id) if ID_MIN <= alert_id <= ID_MAX else None


def upgrade(engine: Engine) -> None:
    db.upgrade(engine, Path(__file__).with_name("migrations"), VERSION_TABLE, 7265322)


def delete_customer_alerts(session: Session, customer_id: str) -> dict[str, int]:
    """A customer's alerts, their delivery records and unpublished dead letters (erasure)."""
    alerts = list(session.execute(select(Alert.id, Alert.transaction_id)
                                  .where(Alert.customer_id == customer_id)))  # fmt: skip
    counts = {"alerts": 0, "deliveries": 0, "alert_dead_letters": 0}
    for i in range(0, len(alerts), 500):
        chunk = alerts[i : i + 500]
        ids, keys = [a[0] for a in chunk], [f"tx:{a[1]}" for a in chunk]
        result: Any = session.execute(
            delete(Delivery).where(Delivery.alert_id.in_(ids) | Delivery.alert_key.in_(keys))
        )
        counts["deliveries"] += int(result.rowcount or 0)
        result = session.execute(delete(Outbox).where(Outbox.alert_key.in_(keys)))
        counts["alert_dead_letters"] += int(result.rowcount or 0)
        result = session.execute(delete(Alert).where(Alert.id.in_(ids)))
        counts["alerts"] += int(result.rowcount or 0)
    return counts
