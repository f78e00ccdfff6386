"""Shared fixtures: Temporal servers (local dev server and time-skipping), store URLs.

`--temporal-address HOST:PORT` points the dev-server tests at a running server instead of
starting one. Each test uses a fresh task queue, so tests never see each other's workers.
"""

import uuid
from collections.abc import AsyncIterator

import pytest
import pytest_asyncio
from temporalio.client import Client
from temporalio.testing import WorkflowEnvironment

from journeys.config.temporal import DATA_CONVERTER
from journeys.devserver import find_binary
from journeys.vocabulary import search_attributes as sa
from tests.helpers import start_skipping_env


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--temporal-address", default=None, help="use this server for dev-server tests"
    )


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
