"""Fixtures for channel tests: a real SMTP server, settings that use it, shipped journeys."""

from collections.abc import Iterator

import pytest

from journeys.cli.segments import SHIPPED as SEGMENTS
from journeys.cli.segments import load_definition_files
from journeys.cli.specs import load_spec_files
from journeys.config.settings import Settings
from journeys.store.db import session_scope
from journeys.store.journeys import catalog_version, publish_spec
from journeys.store.segments import save_segment
from tests.channels.smtp import Inbox, serve, settings_for
from tests.journeys.test_shipped import SHIPPED


@pytest.fixture
def inbox() -> Iterator[tuple[Inbox, int]]:
    with serve(Inbox()) as port_and_box:
        yield port_and_box


@pytest.fixture
def settings(inbox: tuple[Inbox, int], sqlite_url: str, task_queue: str) -> Settings:
    return settings_for(sqlite_url, inbox[1]).model_copy(update={"task_queue": task_queue})


@pytest.fixture
def catalog(settings: Settings) -> int:
    with session_scope(settings.database_url) as session:
        for definition in load_definition_files([SEGMENTS])[0]:  # journeys may name them
            save_segment(session, definition=definition)
        for spec in load_spec_files([SHIPPED]):
            publish_spec(session, spec=spec)
        return catalog_version(session)
