"""Deliveries queued per channel (pending rows with their message) and the dead-letter outbox.

Revision ID: a0002
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from services.alerts.db import BIGID
from services.common.db import UtcDateTime

revision = "a0002"
down_revision = "a0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("alert_deliveries") as batch:
        batch.add_column(sa.Column("next_at", UtcDateTime))
        batch.add_column(sa.Column("payload", sa.Text))
    op.create_index("ix_alert_deliveries_due", "alert_deliveries", ["channel", "status", "next_at"])
    op.create_table(
        "alert_outbox",
        sa.Column("id", BIGID, primary_key=True, autoincrement=True),
        sa.Column("uid", sa.String(36), nullable=False, unique=True),
        sa.Column("alert_key", sa.String(200), nullable=False),
        sa.Column("fields", sa.Text, nullable=False),
        sa.Column("created_at", UtcDateTime, nullable=False),
    )
    op.create_index("ix_alert_outbox_alert_key", "alert_outbox", ["alert_key"])


def downgrade() -> None:
    op.drop_table("alert_outbox")
    op.drop_index("ix_alert_deliveries_due", "alert_deliveries")
    with op.batch_alter_table("alert_deliveries") as batch:
        batch.drop_column("payload")
        batch.drop_column("next_at")
