"""The challenger's verdict beside each scored payment (shadow scoring).

Revision ID: 0003
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("scored_transactions") as batch:
        batch.add_column(sa.Column("shadow_model_version", sa.String(32)))
        batch.add_column(sa.Column("shadow_score", sa.Float))
        batch.add_column(sa.Column("shadow_decision", sa.String(16)))
    op.create_index(
        "ix_scored_transactions_shadow_model_version",
        "scored_transactions",
        ["shadow_model_version"],
    )


def downgrade() -> None:
    op.drop_index("ix_scored_transactions_shadow_model_version", "scored_transactions")
    with op.batch_alter_table("scored_transactions") as batch:
        batch.drop_column("shadow_decision")
        batch.drop_column("shadow_score")
        batch.drop_column("shadow_model_version")
