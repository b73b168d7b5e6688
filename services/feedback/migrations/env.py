"""Alembic environment of the feedback service (version table ``alembic_version``)."""

from alembic import context

from services.common.db import run_env
from services.feedback.db import Base

run_env(context, Base.metadata)
