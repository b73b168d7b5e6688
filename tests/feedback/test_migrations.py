"""The Alembic migrations build exactly the schema the models describe, on both databases, and
running them again (every service start does) changes nothing."""

from __future__ import annotations

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect

from services.feedback import migrate
from services.feedback.db import Base, make_engine

pytestmark = pytest.mark.integration


def test_migrated_schema_equals_the_models(database_url: str) -> None:
    engine = make_engine(database_url)
    migrate.upgrade(engine)
    migrate.upgrade(engine)  # idempotent
    with engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), Base.metadata)
        tables = set(inspect(conn).get_table_names())
    assert diff == [], diff
    assert tables == {"alembic_version", "scored_transactions", "label_events", "labels"}
    engine.dispose()
