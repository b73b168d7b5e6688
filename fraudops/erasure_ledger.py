"""The erasure ledger as dataset builds and backfills read it.

The right-to-erasure command records each erased customer's keyed pseudonym in the ``erasures``
table of the feedback database (services/feedback/db.py owns the table and its migrations). A
build only needs the pseudonyms: one SQL query, so the pipelines need neither the services nor
their migrations. SQLAlchemy is imported on use: the core stays importable without it.
"""

from __future__ import annotations

from pathlib import Path

from fraudops.pseudonyms import ErasedCustomers, check_key
from fraudops.settings import CoreSettings, secret

TABLE = "erasures"
SUBJECT = "subject"  # the column holding the pseudonym


def normalise_url(url: str) -> str:
    """``postgresql://`` means psycopg 3 here (the driver the project installs)."""
    from sqlalchemy.engine import make_url

    u = make_url(url)
    if u.drivername in ("postgresql", "postgres"):
        u = u.set(drivername="postgresql+psycopg")
    return u.render_as_string(hide_password=False)


def read_ledger(database_url: str, key: str | None) -> ErasedCustomers | None:
    """The erased customers a build must leave out (None: nobody erased, or no feedback
    database there). Erasures on record without the key refuse the build: building without the
    exclusion would bring erased customers back."""
    import sqlalchemy as sa

    url = sa.engine.make_url(normalise_url(database_url))
    if url.drivername.startswith("sqlite"):
        path = url.database
        if not path or path == ":memory:" or not Path(path).exists():
            return None
    engine = sa.create_engine(url)
    try:
        if not sa.inspect(engine).has_table(TABLE):
            return None
        query: sa.Select[str] = (
            sa.select(sa.column(SUBJECT, sa.String)).select_from(sa.table(TABLE)).distinct()
        )
        with engine.connect() as conn:
            subjects = [str(s) for s in conn.scalars(query)]
    finally:
        engine.dispose()
    if not subjects:
        return None
    return ErasedCustomers(check_key(key), subjects)


def erased_customers(database_url: str | None = None) -> ErasedCustomers | None:
    """``read_ledger`` with the settings' database (unless given) and key."""
    core = CoreSettings()
    return read_ledger(database_url or core.database_url, secret(core.erasure_key))
