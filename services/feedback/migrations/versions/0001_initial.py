"""Scoring log, label events and effective labels.

Revision ID: 0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from services.common.db import UtcDateTime
from services.feedback.db import ID

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

BIGID = sa.BigInteger().with_variant(sa.Integer, "sqlite")


def upgrade() -> None:
    op.create_table(
        "scored_transactions",
        sa.Column("transaction_id", ID, primary_key=True),
        sa.Column("timestamp", UtcDateTime, nullable=False),
        sa.Column("customer_id", ID, nullable=False),
        sa.Column("terminal_id", ID, nullable=False),
        sa.Column("amount", sa.Numeric(18, 3), nullable=False),
        sa.Column("currency", sa.String(3)),
        sa.Column("mcc", sa.String(4)),
        sa.Column("country", sa.String(2)),
        sa.Column("channel", sa.String(32)),
        sa.Column("score", sa.Float, nullable=False),
        sa.Column("decision", sa.String(16), nullable=False),
        sa.Column("model_version", sa.String(32), nullable=False),
        sa.Column("degraded", sa.Boolean, nullable=False),
        sa.Column("features", sa.Text, nullable=False),
        sa.Column("scored_at", UtcDateTime, nullable=False),
    )
    op.create_index("ix_scored_transactions_timestamp", "scored_transactions", ["timestamp"])
    op.create_index("ix_scored_transactions_customer_id", "scored_transactions", ["customer_id"])
    op.create_index("ix_scored_transactions_decision", "scored_transactions", ["decision"])
    op.create_index("ix_scored_transactions_scored_at", "scored_transactions", ["scored_at"])
    op.create_table(
        "label_events",
        sa.Column("id", BIGID, primary_key=True, autoincrement=True),
        sa.Column(
            "transaction_id",
            ID,
            sa.ForeignKey("scored_transactions.transaction_id"),
            nullable=False,
        ),
        sa.Column("label", sa.String(8), nullable=False),
        sa.Column("source", sa.String(16), nullable=False),
        sa.Column("actor", sa.String(128), nullable=False),
        sa.Column("arrived_at", UtcDateTime, nullable=False),
    )
    op.create_index("ix_label_events_transaction_id", "label_events", ["transaction_id"])
    op.create_index("ix_label_events_arrived_at", "label_events", ["arrived_at"])
    op.create_table(
        "labels",
        sa.Column(
            "transaction_id",
            ID,
            sa.ForeignKey("scored_transactions.transaction_id"),
            primary_key=True,
        ),
        sa.Column("label", sa.String(8), nullable=False),
        sa.Column("source", sa.String(16), nullable=False),
        sa.Column("event_id", BIGID, nullable=False),
        sa.Column("arrived_at", UtcDateTime, nullable=False),
        sa.Column("profile_label", sa.String(8)),
    )
    op.create_index("ix_labels_arrived_at", "labels", ["arrived_at"])
    op.create_index("ix_labels_profile_pending", "labels", ["profile_label", "label"])


def downgrade() -> None:
    op.drop_table("labels")
    op.drop_table("label_events")
    op.drop_table("scored_transactions")
