"""Engine and sessions for the URL in settings (SQLite file by default, PostgreSQL when set)."""

from collections.abc import Iterator
from contextlib import contextmanager
from functools import lru_cache
from pathlib import Path
from typing import Any

import structlog
from alembic.util import CommandError
from sqlalchemy import event
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.exc import OperationalError
from sqlmodel import Session, create_engine

from journeys.config.settings import ConfigError
from journeys.store import schema

log = structlog.get_logger()


@lru_cache
def get_engine(url: str) -> Engine:
    """One engine per URL and process; the first brings the schema to head (store.schema)."""
    engine = create_store_engine(url)
    before, after = schema.upgrade(engine)
    if before != after:
        log.info("store_schema_upgraded", previous=before.current, revision=after.current)
    return engine


def upgrade_schema(url: str) -> None:
    """At a process's start: the store's schema at head before it serves, so a migration that
    cannot run stops the start (ConfigError) rather than a request."""
    try:
        get_engine(url)
    except (OperationalError, CommandError) as err:
        shown = make_url(url).render_as_string(hide_password=True)
        raise ConfigError(f"cannot bring the store at {shown} up to date: {err}") from err


def create_store_engine(url: str) -> Engine:
    """An engine for `url`, its schema left as it is (`journeys db current` reads it)."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        if parsed.database and parsed.database != ":memory:":
            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": 30})
        event.listen(engine, "connect", _sqlite_pragmas)
    else:
        if parsed.drivername == "postgresql":
            url = parsed.set(drivername="postgresql+psycopg").render_as_string(hide_password=False)
        engine = create_engine(url, pool_pre_ping=True, pool_size=10)
    return engine


def _sqlite_pragmas(dbapi_connection, _record) -> None:  # type: ignore[no-untyped-def]
    # WAL lets the API read while the worker writes; NORMAL sync is durable across app crashes.
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()


@contextmanager
def session_scope(url: str) -> Iterator[Session]:
    """A session that commits on success and rolls back on error."""
    with Session(get_engine(url), expire_on_commit=False) as session:
        try:
            yield session
            session.commit()
        except BaseException:
            session.rollback()
            raise


def insert_builder(session: Session) -> Any:
    """The dialect's INSERT, which has ON CONFLICT DO NOTHING (SQLite and PostgreSQL alike): for
    rows that concurrent transactions may write first."""
    return postgresql.insert if session.get_bind().dialect.name == "postgresql" else sqlite.insert
