"""Fixtures for the workflow tests: settings for a worker on the test's own task queue."""

import pytest

from journeys.config.settings import Settings


@pytest.fixture
def settings(sqlite_url: str, task_queue: str) -> Settings:
    # quiet hours off: the time-skipping server starts at the real time of day
    return Settings(database_url=sqlite_url, task_queue=task_queue, quiet_hours="")
