"""Store fixtures: every `database_url` test runs on SQLite and on a real PostgreSQL server.

PostgreSQL is a throw-away cluster (tests/postgres.py) started once per session; each test gets
a fresh database in it. Without a PostgreSQL installation the PostgreSQL variants are skipped,
unless CI is set: CI must test PostgreSQL for real, so there they fail.
"""

import os
import uuid
from collections.abc import Iterator

import pytest

from journeys.store.db import get_engine
from tests.postgres import PostgresUnavailable, create_database, drop_database, postgres_cluster

# Databases are created with a non-UTC session time zone, so that code relying on the server
# handing back UTC (true of a default Debian cluster in a UTC container, not in production) fails.
POSTGRES_SESSION_TIMEZONE = "America/New_York"


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """URL of the `journeys` database in a throw-away PostgreSQL cluster for this session."""
    cluster = postgres_cluster()
    try:
        url = cluster.__enter__()
    except PostgresUnavailable as exc:
        reason = str(exc)
    else:
        try:
            yield url
        finally:
            cluster.__exit__(None, None, None)
        return
    if os.environ.get("CI"):
        pytest.fail(f"CI must test the store on PostgreSQL, but: {reason}", pytrace=False)
    pytest.skip(f"PostgreSQL variants skipped: {reason}")


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path) -> Iterator[str]:  # type: ignore[no-untyped-def]
    """A fresh, empty store database: a SQLite file, or a new database on the PostgreSQL server."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path}/journeys.db"
        yield url
        get_engine(url).dispose()
        return
    server = request.getfixturevalue("postgres_url")
    name = f"test_{uuid.uuid4().hex[:12]}"
    url = create_database(server, name, timezone=POSTGRES_SESSION_TIMEZONE)
    yield url
    get_engine(url).dispose()  # cached per URL: close its pooled connections before the drop
    drop_database(server, name)
