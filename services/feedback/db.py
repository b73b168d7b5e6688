"""The feedback database: what was scored (the scoring log) and every label event, in SQL.

SQLite by default (a file, WAL, writers serialised with ``BEGIN IMMEDIATE``), PostgreSQL through
``DATABASE_URL``. The schema is owned by the Alembic migrations beside this module; the models
here mirror them (a test checks that the migrated schema and the models agree).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    Numeric,
    String,
    Text,
    create_engine,
    event,
)
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, sessionmaker
from sqlalchemy.types import TypeDecorator

ID = String(128)


class UtcDateTime(TypeDecorator[datetime]):
    """Timezone-aware UTC on every backend (SQLite keeps no offset: values are stored as UTC)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime: pass an aware UTC datetime")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class Base(DeclarativeBase):
    pass


class ScoredTransaction(Base):
    """One scored payment as the scoring service decided it (the scoring log)."""

    __tablename__ = "scored_transactions"

    transaction_id: Mapped[str] = mapped_column(ID, primary_key=True)
    timestamp: Mapped[datetime] = mapped_column(UtcDateTime, index=True)
    customer_id: Mapped[str] = mapped_column(ID, index=True)
    terminal_id: Mapped[str] = mapped_column(ID)
    amount: Mapped[Any] = mapped_column(Numeric(18, 3))
    currency: Mapped[str | None] = mapped_column(String(3))
    mcc: Mapped[str | None] = mapped_column(String(4))
    country: Mapped[str | None] = mapped_column(String(2))
    channel: Mapped[str | None] = mapped_column(String(32))
    score: Mapped[float] = mapped_column(Float)
    decision: Mapped[str] = mapped_column(String(16), index=True)
    model_version: Mapped[str] = mapped_column(String(32))
    degraded: Mapped[bool] = mapped_column(Boolean)
    features: Mapped[str] = mapped_column(Text)  # JSON list in the model's feature order
    scored_at: Mapped[datetime] = mapped_column(UtcDateTime, index=True)


class LabelEvent(Base):
    """Every label ever received (never updated or deleted): the history behind a label."""

    __tablename__ = "label_events"

    id: Mapped[int] = mapped_column(
        BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True
    )
    transaction_id: Mapped[str] = mapped_column(
        ID, ForeignKey("scored_transactions.transaction_id"), index=True
    )
    label: Mapped[str] = mapped_column(String(8))
    source: Mapped[str] = mapped_column(String(16))
    actor: Mapped[str] = mapped_column(String(128))
    arrived_at: Mapped[datetime] = mapped_column(UtcDateTime, index=True)


class EffectiveLabel(Base):
    """The label that counts for a transaction now (precedence over its events), and what the
    profile store has been told (``profile_label``; differs while Redis is behind)."""

    __tablename__ = "labels"

    transaction_id: Mapped[str] = mapped_column(
        ID, ForeignKey("scored_transactions.transaction_id"), primary_key=True
    )
    label: Mapped[str] = mapped_column(String(8))
    source: Mapped[str] = mapped_column(String(16))
    event_id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"))
    arrived_at: Mapped[datetime] = mapped_column(UtcDateTime, index=True)
    profile_label: Mapped[str | None] = mapped_column(String(8))


Index("ix_labels_profile_pending", EffectiveLabel.profile_label, EffectiveLabel.label)


def normalise_url(url: str) -> str:
    """``postgresql://`` means psycopg 3 here (the driver the project installs)."""
    u = make_url(url)
    if u.drivername in ("postgresql", "postgres"):
        u = u.set(drivername="postgresql+psycopg")
    return u.render_as_string(hide_password=False)


def make_engine(url: str, **kwargs: Any) -> Engine:
    url = normalise_url(url)
    if url.startswith("sqlite"):
        engine = create_engine(url, connect_args={"timeout": 30}, **kwargs)

        @event.listens_for(engine, "connect")
        def _sqlite_connect(dbapi_conn: Any, _record: Any) -> None:
            dbapi_conn.isolation_level = None  # we issue BEGIN ourselves (below)
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA foreign_keys=ON")
            cur.execute("PRAGMA busy_timeout=30000")
            cur.close()

        @event.listens_for(engine, "begin")
        def _sqlite_begin(conn: Any) -> None:
            conn.exec_driver_sql("BEGIN IMMEDIATE")  # one writer at a time, no upgrade deadlock

        return engine
    kwargs.setdefault("pool_pre_ping", True)
    kwargs.setdefault("pool_size", 10)
    kwargs.setdefault("max_overflow", 20)
    return create_engine(url, **kwargs)


def session_factory(engine: Engine) -> sessionmaker[Any]:
    return sessionmaker(engine, expire_on_commit=False)


def utcnow() -> datetime:
    return datetime.now(UTC)
