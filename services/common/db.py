"""SQL plumbing shared by the services: engines for SQLite and PostgreSQL, aware UTC datetimes,
and Alembic migrations run at start-up (each service has its own chain and version table)."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from sqlalchemy import DateTime, create_engine, event
from sqlalchemy.engine import Engine
from sqlalchemy.orm import sessionmaker
from sqlalchemy.types import TypeDecorator

from fraudops.erasure_ledger import normalise_url


class UtcDateTime(TypeDecorator[datetime]):
    """Timezone-aware UTC on every backend (SQLite keeps no offset: values are stored as UTC)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime: pass an aware UTC datetime")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def make_engine(url: str, **kwargs: Any) -> Engine:
    """SQLite: WAL, writers serialised with ``BEGIN IMMEDIATE``; PostgreSQL: a checked pool."""
    url = normalise_url(url)
    if url.startswith("sqlite"):
        engine = create_engine(url, connect_args={"timeout": 30}, **kwargs)

        @event.listens_for(engine, "connect")
        def _sqlite_connect(dbapi_conn: Any, _record: Any) -> None:
            dbapi_conn.isolation_level = None  # we issue BEGIN ourselves (below)
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA foreign_keys=ON")
            cur.execute("PRAGMA busy_timeout=30000")
            cur.close()

        @event.listens_for(engine, "begin")
        def _sqlite_begin(conn: Any) -> None:
            conn.exec_driver_sql("BEGIN IMMEDIATE")  # one writer at a time, no upgrade deadlock

        return engine
    kwargs.setdefault("pool_pre_ping", True)
    kwargs.setdefault("pool_size", 10)
    kwargs.setdefault("max_overflow", 20)
    return create_engine(url, **kwargs)


def session_factory(engine: Engine) -> sessionmaker[Any]:
    return sessionmaker(engine, expire_on_commit=False)


def utcnow() -> datetime:
    return datetime.now(UTC)


def upgrade(engine: Engine, migrations: Path, version_table: str, lock_id: int) -> None:
    """Migrate to head; concurrent starters on PostgreSQL wait on an advisory lock."""
    cfg = Config()
    cfg.set_main_option("script_location", str(migrations))
    cfg.set_main_option("sqlalchemy.url", engine.url.render_as_string(False).replace("%", "%%"))
    with engine.begin() as conn:
        if conn.dialect.name == "postgresql":
            conn.exec_driver_sql(f"SELECT pg_advisory_xact_lock({int(lock_id)})")
        cfg.attributes["connection"] = conn
        cfg.attributes["version_table"] = version_table
        command.upgrade(cfg, "head")


def run_env(context: Any, metadata: Any) -> None:
    """The body of every service's Alembic ``env.py``: the connection (and the version table)
    come from ``upgrade``; offline SQL scripts are not supported."""
    if context.is_offline_mode():
        raise SystemExit("offline (SQL script) migrations are not supported; give a DATABASE_URL")
    config = context.config
    connection = config.attributes.get("connection")
    engine = None
    if connection is None:  # the alembic command line: the URL of alembic.ini / -x
        engine = make_engine(config.get_main_option("sqlalchemy.url") or "")
        connection = engine.connect()
    try:
        context.configure(
            connection=connection,
            target_metadata=metadata,
            version_table=config.attributes.get("version_table", "alembic_version"),
        )
        with context.begin_transaction():
            context.run_migrations()
    finally:
        if engine is not None:
            connection.close()
            engine.dispose()


def reachable(sessions: sessionmaker[Any], client: Any) -> tuple[bool, bool]:
    """(database answers, Redis answers): what a service's /readyz reports."""
    from sqlalchemy import text

    from services.common.metrics import probe_failed

    db_ok = redis_ok = False
    # whatever the error (driver, network, Redis, a bug), a probe answers not-ready, never a 500
    try:
        with sessions() as session:
            db_ok = session.execute(text("SELECT 1")).scalar() == 1
    except Exception as exc:
        probe_failed("database", exc)
    try:
        redis_ok = bool(client.ping())
    except Exception as exc:
        probe_failed("redis", exc)
    return db_ok, redis_ok
