"""The fraud team's rules beside each scored payment: the rule-set version that was active, the
rules that fired and the model's own decision (``decision`` is then the final one).

Revision ID: 0004
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("scored_transactions") as batch:
        batch.add_column(sa.Column("rules_version", sa.String(16)))
        batch.add_column(sa.Column("rules_fired", sa.Text))
        batch.add_column(sa.Column("model_decision", sa.String(16)))


def downgrade() -> None:
    with op.batch_alter_table("scored_transactions") as batch:
        batch.drop_column("model_decision")
        batch.drop_column("rules_fired")
        batch.drop_column("rules_version")
