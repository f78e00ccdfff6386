"""Local-time waits across zones and DST changes (where peers keep shipping fixes)."""

from datetime import UTC, datetime, time, timedelta

import pytest

from journeys.vocabulary.local_time import until_local, zone_or


@pytest.mark.parametrize(
    ("now_utc", "zone", "expected"),
    [
        # New York, the evening before DST starts (8 March 2026): 22:00 EST -> 10:00 EDT is 11 h
        (datetime(2026, 3, 8, 3, 0, tzinfo=UTC), "America/New_York", timedelta(hours=11)),
        # the evening before DST ends (1 November 2026): 22:00 EDT -> 10:00 EST is 13 h
        (datetime(2026, 11, 1, 2, 0, tzinfo=UTC), "America/New_York", timedelta(hours=13)),
        # Tokyo has no DST; 09:00 local is still ahead today
        (datetime(2026, 5, 31, 23, 0, tzinfo=UTC), "Asia/Tokyo", timedelta(hours=1)),
        # already past 10:00 in Berlin: tomorrow
        (datetime(2026, 6, 1, 9, 0, tzinfo=UTC), "Europe/Berlin", timedelta(hours=23)),
    ],
)
def test_until_the_next_ten_oclock(now_utc: datetime, zone: str, expected: timedelta) -> None:
    at = time(9, 0) if zone == "Asia/Tokyo" else time(10, 0)
    wait = until_local(now_utc, at, zone_or(zone, "UTC"))
    assert wait == expected
    assert (now_utc + wait).astimezone(zone_or(zone, "UTC")).time() == at


def test_an_unknown_zone_trait_falls_back_to_the_default() -> None:
    assert zone_or("Mars/Olympus", "Europe/Paris").key == "Europe/Paris"
    assert zone_or(None, "UTC").key == "UTC"


@pytest.mark.parametrize(
    ("local", "expected"),
    [("23:30", timedelta(hours=8, minutes=30)), ("03:00", timedelta(hours=5)),
     ("08:00", timedelta(0)), ("12:00", timedelta(0)), ("20:59", timedelta(0))],
)  # fmt: skip
def test_quiet_hours_across_midnight(local: str, expected: timedelta) -> None:
    from journeys.vocabulary.local_time import quiet_wait

    zone = zone_or("Europe/Paris", "UTC")
    hour, minute = map(int, local.split(":"))
    now = datetime(2026, 6, 10, hour, minute, tzinfo=zone).astimezone(UTC)
    assert quiet_wait(now, zone, time(21, 0), time(8, 0)) == expected
