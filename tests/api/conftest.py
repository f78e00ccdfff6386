"""The API over ASGI (no server, no Temporal) on a fresh SQLite store; modules that need more
(a task queue, a shop, templates) define their own `settings` or `http`."""

from collections.abc import AsyncIterator

import httpx
import pytest
import pytest_asyncio

from journeys.api.app import create_app
from journeys.config.settings import Settings
from tests.helpers.api import ADMIN_KEY


@pytest.fixture
def settings(sqlite_url: str) -> Settings:
    return Settings(database_url=sqlite_url, admin_key=ADMIN_KEY, write_keys=["w"])


@pytest_asyncio.fixture(loop_scope="session")
async def http(settings: Settings) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=create_app(settings))
    async with httpx.AsyncClient(transport=transport, base_url="http://api") as client:
        yield client
