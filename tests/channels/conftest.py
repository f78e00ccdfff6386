"""Fixtures for channel tests: settings that send email through the test's SMTP server (the
`inbox` fixture, tests/conftest.py), and the shipped segments and journeys published."""

import pytest

from journeys.config.settings import Settings
from tests.helpers.journeys import publish_shipped
from tests.helpers.smtp import Inbox, settings_for


@pytest.fixture
def settings(inbox: tuple[Inbox, int], sqlite_url: str, task_queue: str) -> Settings:
    return settings_for(sqlite_url, inbox[1]).model_copy(update={"task_queue": task_queue})


@pytest.fixture
def catalog(settings: Settings) -> int:
    return publish_shipped(settings.database_url)
