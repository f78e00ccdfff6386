"""Shared fixtures: Temporal servers (local dev server and time-skipping), store URLs (SQLite,
and the throw-away PostgreSQL cluster), an SMTP inbox, the small shop.

`--temporal-address HOST:PORT` points the dev-server tests at a running server instead of
starting one. Each test uses a fresh task queue, so tests never see each other's workers.

Every `database_url` test runs on SQLite and on a real PostgreSQL server: a throw-away cluster
(tests/helpers/postgres.py) started once per session, with a fresh database per test. Without a
PostgreSQL installation the PostgreSQL variants are skipped, unless CI is set: CI must test
PostgreSQL for real, so there they fail. Those variants carry the `postgres` marker.
"""

import os
import uuid
from collections.abc import AsyncIterator, Iterator

import pytest
import pytest_asyncio
from temporalio.client import Client
from temporalio.testing import WorkflowEnvironment

from journeys.config.temporal import DATA_CONVERTER
from journeys.devserver import find_binary
from journeys.store.db import get_engine
from journeys.vocabulary import search_attributes as sa
from tests.helpers.postgres import (
    PostgresUnavailable,
    create_database,
    drop_database,
    postgres_cluster,
)
from tests.helpers.shop import seed_shop
from tests.helpers.smtp import Inbox, serve
from tests.helpers.temporal import start_skipping_env

# Databases are created with a non-UTC session time zone, so that code relying on the server
# handing back UTC (true of a default Debian cluster in a UTC container, not in production) fails.
POSTGRES_SESSION_TIMEZONE = "America/New_York"


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--temporal-address", default=None, help="use this server for dev-server tests"
    )
    parser.addoption(
        "--fuzz-examples", type=int, default=10,
        help="examples per fuzzed operation or payload kind (tests/api/test_fuzz.py)",
    )  # fmt: skip
    parser.addoption(
        "--years", type=int, default=3,
        help="simulated years of the long-life test (tests/workflows/test_long_life.py)",
    )  # fmt: skip


def pytest_configure(config: pytest.Config) -> None:
    """Hypothesis (and schemathesis, built on it) draw --fuzz-examples examples per test."""
    from hypothesis import HealthCheck, settings

    settings.register_profile(
        "journeys", max_examples=config.getoption("--fuzz-examples"), deadline=None,
        database=None, suppress_health_check=list(HealthCheck),
    )  # fmt: skip
    settings.load_profile("journeys")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """A test that asks for the PostgreSQL server itself needs it, whatever its module says.
    The long-life test goes first: it takes minutes, and begun last it would keep one of
    `make test`'s two processes busy long after the other is done (the Makefile turns off
    xdist's reordering of files by size, which would put this one-test file near the end)."""
    for item in items:
        if "postgres_url" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.postgres)
    items.sort(key=lambda item: item.get_closest_marker("decade") is None)


@pytest_asyncio.fixture(scope="session", loop_scope="session")
async def dev_env(request: pytest.FixtureRequest) -> AsyncIterator[WorkflowEnvironment]:
    """The local dev server (full server: visibility, update-with-start, CAN suggestions)."""
    address = request.config.getoption("--temporal-address")
    if address:
        client = await Client.connect(address, data_converter=DATA_CONVERTER)
        yield WorkflowEnvironment.from_client(client)
        return
    env = await WorkflowEnvironment.start_local(
        data_converter=DATA_CONVERTER,
        dev_server_existing_path=find_binary("temporal"),
        search_attributes=sa.ALL,
        dev_server_extra_args=[
            *("--dynamic-config-value", "frontend.workerHeartbeatsEnabled=false"),
            *("--dynamic-config-value", "system.enableSendTargetVersionChanged=true"),
        ],
    )
    yield env
    await env.shutdown()


@pytest_asyncio.fixture(loop_scope="session")
async def skipping_env() -> AsyncIterator[WorkflowEnvironment]:
    """A time-skipping test server per test: customer workflows live forever, and one left
    waiting on a stopped worker would stall time skipping for the next test."""
    env = await start_skipping_env()
    yield env
    await env.shutdown()


@pytest.fixture
def task_queue() -> str:
    return f"tq-{uuid.uuid4()}"


@pytest.fixture
def sqlite_url(tmp_path) -> str:  # type: ignore[no-untyped-def]
    return f"sqlite:///{tmp_path}/journeys.db"


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


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
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


@pytest.fixture
def inbox() -> Iterator[tuple[Inbox, int]]:
    """A real SMTP server (aiosmtpd) on a free loopback port, and the messages it received."""
    with serve(Inbox()) as port_and_box:
        yield port_and_box


@pytest.fixture
def shop(sqlite_url: str) -> str:
    """A SQLite store holding the small shop (tests/helpers/shop.py)."""
    return seed_shop(sqlite_url)
