"""Alembic environment of the alerts service (version table ``alembic_version_alerts``)."""

from alembic import context

from services.alerts.db import Base
from services.common.db import run_env

run_env(context, Base.metadata)
