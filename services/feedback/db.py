"""The feedback database: what was scored (the scoring log) and every label event, in SQL.

SQLite by default (a file, WAL, writers serialised with ``BEGIN IMMEDIATE``), PostgreSQL through
``DATABASE_URL``. The schema is owned by the Alembic migrations beside this module; the models
here mirror them (a test checks that the migrated schema and the models agree).
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    Float,
    ForeignKey,
    Index,
    Integer,
    Numeric,
    String,
    Text,
)
from sqlalchemy.engine import Engine
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from fraudops import erasure_ledger
from services.common import db
from services.common.db import UtcDateTime, make_engine, session_factory, utcnow

__all__ = ["make_engine", "session_factory", "upgrade", "utcnow"]

ID = String(128)


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
    # the challenger's verdict on the same features (shadow scoring); None: not shadow-scored
    shadow_model_version: Mapped[str | None] = mapped_column(String(32), index=True)
    shadow_score: Mapped[float | None] = mapped_column(Float)
    shadow_decision: Mapped[str | None] = mapped_column(String(16))
    # the rules (issue 22) when a rule set was active; None: the model alone decided, and
    # ``decision`` is the model's
    rules_version: Mapped[str | None] = mapped_column(String(16))
    rules_fired: Mapped[str | None] = mapped_column(Text)  # JSON list of rule names, in order
    model_decision: Mapped[str | None] = mapped_column(String(16))


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


class Erasure(Base):
    """The audit log of erasures: who asked, when, what was removed; the customer only as a
    keyed pseudonym (later dataset builds and backfills exclude them by it)."""

    __tablename__ = erasure_ledger.TABLE  # builds read it (fraudops.erasure_ledger)

    id: Mapped[int] = mapped_column(
        BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True
    )
    subject: Mapped[str] = mapped_column(String(64), index=True)  # HMAC-SHA256 of the id
    actor: Mapped[str] = mapped_column(String(128))
    reason: Mapped[str] = mapped_column(String(256))
    requested_at: Mapped[datetime] = mapped_column(UtcDateTime)
    completed_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    removed: Mapped[str | None] = mapped_column(Text)  # JSON counts per store


Index("ix_labels_profile_pending", EffectiveLabel.profile_label, EffectiveLabel.label)


def upgrade(engine: Engine) -> None:
    """Migrate to head (every service start does; concurrent starters wait on a lock)."""
    db.upgrade(engine, Path(__file__).with_name("migrations"), "alembic_version", 7265321)
