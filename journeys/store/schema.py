"""The store's schema version: Alembic migrations (`journeys/store/migrations/`) brought to head
under a lock, so API replicas and workers starting together on one database do not race.

An empty database gets today's tables in one step and is stamped at head (what Alembic advises
for a new database); a database from an earlier release — a 0.1 store made by `create_all`
included — is upgraded revision by revision, keeping its rows. The lock is a PostgreSQL advisory
lock held for the migrating transaction, or a file lock beside a SQLite file.
"""

import contextlib
import fcntl
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, inspect, text
from sqlalchemy.engine import Engine
from sqlmodel import SQLModel

from journeys.store import models  # noqa: F401  (registers the tables on SQLModel.metadata)

SCRIPTS = "journeys.store:migrations"
# pg_advisory_xact_lock's key: any constant the product's other locks don't use ("jrny")
_LOCK_KEY = 0x6A726E79


@dataclass(frozen=True)
class SchemaState:
    current: str | None  # None: no schema version recorded (empty, or a 0.1 store)
    head: str

    @property
    def up_to_date(self) -> bool:
        return self.current == self.head


def alembic_config(connection: Connection | None = None) -> Config:
    """Alembic's configuration with our scripts, running on `connection`."""
    config = Config()
    config.set_main_option("script_location", SCRIPTS)
    config.attributes["connection"] = connection
    return config


def head() -> str:
    revision = ScriptDirectory.from_config(alembic_config()).get_current_head()
    assert revision is not None, "no migrations found"
    return revision


def state(engine: Engine) -> SchemaState:
    with engine.connect() as connection:
        current = MigrationContext.configure(connection).get_current_revision()
    return SchemaState(current=current, head=head())


def upgrade(engine: Engine) -> tuple[SchemaState, SchemaState]:
    """Bring the database to head; returns the state before and after. Safe to call from many
    processes at once: the first migrates, the others wait and find nothing left to do."""
    target = head()
    with _locked(engine) as connection:
        current = MigrationContext.configure(connection).get_current_revision()
        before = SchemaState(current=current, head=target)
        if current == target:
            return before, before
        config = alembic_config(connection)
        if current is None and not inspect(connection).get_table_names():
            SQLModel.metadata.create_all(connection)
            command.stamp(config, "head")
        else:
            command.upgrade(config, "head")
        connection.commit()
    return before, SchemaState(current=target, head=target)


@contextlib.contextmanager
def _locked(engine: Engine) -> Iterator[Connection]:
    database = engine.url.database
    if engine.dialect.name == "sqlite":
        if not database or database == ":memory:":
            with engine.connect() as connection:
                yield connection
            return
        lock_file = Path(f"{database}.migrate-lock")
        with lock_file.open("a") as held:
            fcntl.flock(held, fcntl.LOCK_EX)
            try:
                with engine.connect() as connection:
                    yield connection
            finally:
                fcntl.flock(held, fcntl.LOCK_UN)
        return
    with engine.connect() as connection:
        if engine.dialect.name == "postgresql":  # released when the transaction ends
            connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _LOCK_KEY})
        yield connection
