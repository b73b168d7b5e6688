"""The Alembic migrations of each service build exactly the schema its models describe, on both
databases; running them again (every start does) changes nothing; both services can share one
database (own tables, own version tables)."""

from __future__ import annotations

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect

from services.alerts import db as alerts_db
from services.common.db import make_engine
from services.feedback import db as feedback_db

pytestmark = pytest.mark.integration
FEEDBACK = {"scored_transactions", "label_events", "labels", "erasures"}
ALERTS = {"alerts", "alert_deliveries", "alert_outbox"}


def test_migrated_schema_equals_the_models(database_url: str) -> None:
    engine = make_engine(database_url)
    for module, other in ((feedback_db, ALERTS), (alerts_db, FEEDBACK)):
        module.upgrade(engine)
        module.upgrade(engine)  # idempotent
        with engine.connect() as conn:
            ctx = MigrationContext.configure(
                conn,
                opts={
                    "include_name": lambda name, kind, _p, o=other: (
                        not (kind == "table" and (name in o or name.startswith("alembic_version")))
                    ),
                },
            )
            diff = compare_metadata(ctx, module.Base.metadata)
        assert diff == [], (module.__name__, diff)
    with engine.connect() as conn:
        tables = set(inspect(conn).get_table_names())
    assert tables == FEEDBACK | ALERTS | {"alembic_version", "alembic_version_alerts"}
    engine.dispose()
