"""The store's schema across releases: the migrations make exactly the tables the code uses, a
0.1 store (made by `create_all`, no schema version) is upgraded with every row intact, and
processes starting together on one new database don't race. On SQLite and PostgreSQL."""

import os
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import (
    JSON,
    Boolean,
    DateTime,
    Float,
    Integer,
    LargeBinary,
    MetaData,
    String,
    select,
    text,
)
from sqlalchemy.engine import Engine
from sqlmodel import Session, SQLModel

from journeys.store import schema
from journeys.store.db import create_store_engine, get_engine
from journeys.store.models import Customer
from tests.helpers.ports import free_port
from tests.helpers.postgres import create_database, drop_database

JOURNEYS = str(Path(sys.executable).parent / "journeys")


@pytest.fixture
def engine(database_url: str) -> Iterator[Engine]:
    """An engine that leaves the schema alone (the product's get_engine upgrades it)."""
    engine = create_store_engine(database_url)
    yield engine
    engine.dispose()


def test_the_migrations_make_exactly_the_tables_the_code_defines(engine: Engine) -> None:
    with engine.begin() as connection:
        command.upgrade(schema.alembic_config(connection), "head")
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        differences = compare_metadata(context, SQLModel.metadata)
    assert differences == [], "add a migration (docs/development.md) for: " + repr(differences)


def test_a_new_database_is_made_at_the_newest_revision(database_url: str) -> None:
    engine = get_engine(database_url)
    assert schema.state(engine).up_to_date
    with engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        assert compare_metadata(context, SQLModel.metadata) == []


def _make_0_1_store(engine: Engine, *, without_stage: bool) -> None:
    """What 0.1 left: the baseline's tables and no schema version (an older 0.1: no stage)."""
    with engine.begin() as connection:
        command.upgrade(schema.alembic_config(connection), "0001")
        connection.execute(text("DROP TABLE alembic_version"))
        if without_stage:
            connection.execute(text("ALTER TABLE customer DROP COLUMN stage"))


def _value(table: str, column: Any) -> Any:
    """A value every constraint accepts: strings named after their column, so the foreign key
    journeyversion.name finds journey.name; the one-row tables' id is 1."""
    kind = column.type
    if column.name == "status":
        return "active"
    if isinstance(kind, Boolean):
        return True
    if isinstance(kind, Integer):
        return 1
    if isinstance(kind, Float):
        return 2.5
    if isinstance(kind, DateTime):
        return datetime(2025, 3, 30, 1, 30, tzinfo=UTC)
    if isinstance(kind, JSON):
        return {"from": f"{table}.{column.name}", "n": [1, 2]}
    if isinstance(kind, LargeBinary):
        return b"\x00zlib\xff"
    if isinstance(kind, String):
        return column.name[: kind.length] if kind.length else f"{table}.{column.name} text"
    raise AssertionError(f"no test value for {table}.{column.name}: {kind!r}")


def _rows(engine: Engine) -> dict[str, list[dict[str, Any]]]:
    tables = MetaData()
    tables.reflect(engine)
    with engine.connect() as connection:
        return {
            name: [dict(row._mapping) for row in connection.execute(select(table))]
            for name, table in tables.tables.items()
            if name != "alembic_version"
        }


@pytest.mark.parametrize("without_stage", [False, True], ids=["0.1", "early-0.1"])
def test_a_0_1_store_is_upgraded_with_every_row_intact(
    engine: Engine, database_url: str, without_stage: bool
) -> None:
    _make_0_1_store(engine, without_stage=without_stage)
    tables = MetaData()
    tables.reflect(engine)
    with engine.begin() as connection:
        for table in tables.sorted_tables:  # journey before journeyversion
            row = {column.name: _value(table.name, column) for column in table.columns}
            connection.execute(table.insert().values(row))
    before = _rows(engine)
    later = {"customerlife", "account", "accountmember", "backtest_run"}  # made after 0.1
    assert set(before) == set(SQLModel.metadata.tables) - later and all(before.values())
    assert schema.state(engine).current is None

    upgraded = get_engine(database_url)  # what every process does at start

    assert schema.state(upgraded).up_to_date
    after = _rows(upgraded)
    for name, rows in before.items():
        kept = [{column: row[column] for column in rows[0]} for row in after[name]]
        assert kept == rows, f"table {name} changed"
    assert set(after) == set(SQLModel.metadata.tables)
    if without_stage:
        assert after["customer"][0]["stage"] is None  # the column 0.1 lacked, added empty
    with Session(upgraded) as session:  # and the product reads the old rows
        customer = session.get(Customer, "customer_id")
        assert customer is not None
        assert customer.traits == {"from": "customer.traits", "n": [1, 2]}


def test_processes_upgrading_one_new_database_together_do_not_race(database_url: str) -> None:
    results: list[object] = []

    def start() -> None:
        own = create_store_engine(database_url)  # each replica has its own connections
        try:
            barrier.wait()
            results.append(schema.upgrade(own))
        except Exception as err:  # noqa: BLE001  (reported below)
            results.append(err)
        finally:
            own.dispose()

    barrier = threading.Barrier(4)
    threads = [threading.Thread(target=start) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not [r for r in results if isinstance(r, Exception)], results
    changed = [r for r in results if isinstance(r, tuple) and r[0] != r[1]]
    assert len(results) == 4 and len(changed) == 1, "exactly one replica migrates"
    engine = create_store_engine(database_url)
    try:
        with engine.connect() as connection:
            versions = connection.execute(text("SELECT version_num FROM alembic_version")).all()
        assert [v for (v,) in versions] == [schema.head()]
    finally:
        engine.dispose()


@pytest.mark.e2e
def test_two_api_replicas_start_together_on_a_new_postgresql_database(postgres_url: str) -> None:
    name = f"replicas_{uuid.uuid4().hex[:12]}"
    database_url = create_database(postgres_url, name)
    try:
        _start_two_replicas(database_url)
    finally:
        get_engine(database_url).dispose()
        drop_database(postgres_url, name)


def _start_two_replicas(database_url: str) -> None:
    ports = [free_port(), free_port()]
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("JOURNEYS_")},
        "JOURNEYS_DATABASE_URL": database_url,
        "JOURNEYS_TEMPORAL_ADDRESS": f"127.0.0.1:{free_port()}",  # not needed to start
        "JOURNEYS_WRITE_KEYS": "k",
    }
    replicas = [
        subprocess.Popen(
            [JOURNEYS, "api", "--host", "127.0.0.1", "--port", str(port)],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
        )
        for port in ports
    ]
    try:
        for port, replica in zip(ports, replicas, strict=True):
            _wait_healthy(f"http://127.0.0.1:{port}/healthz", replica)
        state = schema.state(get_engine(database_url))
        assert state.up_to_date
    finally:
        for replica in replicas:
            replica.terminate()
            replica.wait(timeout=30)


def _wait_healthy(url: str, process: subprocess.Popen[bytes], seconds: float = 60) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if process.poll() is not None:
            output = process.stdout.read().decode() if process.stdout else ""
            raise AssertionError(f"replica exited ({process.returncode}):\n{output[-3000:]}")
        try:
            if httpx.get(url, timeout=2).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    raise AssertionError(f"{url} did not answer in {seconds:.0f}s")
