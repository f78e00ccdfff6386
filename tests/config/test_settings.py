"""Settings refuse what cannot work, naming the value, before any process starts."""

from datetime import time

import pytest
from pydantic import ValidationError

from journeys.config.settings import Settings


@pytest.mark.parametrize(
    ("value", "problem"),
    [
        ("late", "'late': Invalid isoformat"),
        ("21:00", "expected a window"),
        ("08:00-08:00", "'08:00-08:00' starts and ends at the same time"),
        ("25:00-08:00", "'25:00-08:00'"),
    ],
)
def test_quiet_hours_that_cannot_work_are_refused(value: str, problem: str) -> None:
    with pytest.raises(ValidationError, match=problem) as raised:
        Settings(quiet_hours=value)
    assert raised.value.errors()[0]["loc"] == ("quiet_hours",)


def test_quiet_hours_are_a_window_or_off() -> None:
    assert Settings(quiet_hours="21:00-08:00").quiet_window == (time(21), time(8))
    assert Settings(quiet_hours="").quiet_window is None
