"""Alert queue and deliveries.

Revision ID: a0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from services.alerts.db import BIGID, ID
from services.common.db import UtcDateTime

revision = "a0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "alerts",
        sa.Column("id", BIGID, primary_key=True, autoincrement=True),
        sa.Column("transaction_id", ID, nullable=False, unique=True),
        sa.Column("customer_id", ID, nullable=False),
        sa.Column("terminal_id", ID, nullable=False),
        sa.Column("timestamp", UtcDateTime, nullable=False),
        sa.Column("amount", sa.Numeric(18, 3), nullable=False),
        sa.Column("currency", sa.String(3)),
        sa.Column("channel", sa.String(32)),
        sa.Column("score", sa.Float, nullable=False),
        sa.Column("decision", sa.String(16), nullable=False),
        sa.Column("model_version", sa.String(32), nullable=False),
        sa.Column("reasons", sa.Text, nullable=False),
        sa.Column("features", sa.Text, nullable=False),
        sa.Column("tags", sa.String(256), nullable=False),
        sa.Column("severity", sa.String(8), nullable=False),
        sa.Column("grouped_with", BIGID),
        sa.Column("created_at", UtcDateTime, nullable=False),
        sa.Column("status", sa.String(8), nullable=False),
        sa.Column("labelled_by", sa.String(128)),
        sa.Column("labelled_at", UtcDateTime),
    )
    op.create_index("ix_alerts_customer_id", "alerts", ["customer_id"])
    op.create_index("ix_alerts_terminal_id", "alerts", ["terminal_id"])
    op.create_index("ix_alerts_created_at", "alerts", ["created_at"])
    op.create_index("ix_alerts_status", "alerts", ["status"])
    op.create_table(
        "alert_deliveries",
        sa.Column("id", BIGID, primary_key=True, autoincrement=True),
        sa.Column("alert_key", sa.String(200), nullable=False),
        sa.Column("alert_id", BIGID, sa.ForeignKey("alerts.id")),
        sa.Column("channel", sa.String(16), nullable=False),
        sa.Column("status", sa.String(8), nullable=False),
        sa.Column("attempts", sa.Integer, nullable=False),
        sa.Column("error", sa.Text),
        sa.Column("at", UtcDateTime, nullable=False),
        sa.UniqueConstraint("alert_key", "channel"),
    )


def downgrade() -> None:
    op.drop_table("alert_deliveries")
    op.drop_table("alerts")
