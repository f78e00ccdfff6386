"""Local time of day in a customer's time zone (waits, later quiet hours).

Imported by workflows through `imports_passed_through`: the sandbox restricts zoneinfo, and the
zone database is data, not I/O that could differ between replays of one history.
"""

from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

UTC = ZoneInfo("UTC")


def utc_minute(moment: datetime) -> str:
    """A moment as a run's details show it: `2026-12-07 08:00 UTC`."""
    return f"{moment.astimezone(UTC):%Y-%m-%d %H:%M} UTC"


def zone_or(name: object, default: str) -> ZoneInfo:
    """The customer's zone (a trait), else the default: a typo in a trait never stops a run."""
    try:
        return ZoneInfo(str(name)) if name else ZoneInfo(default)
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo(default)


def until_local(now: datetime, at: time, zone: ZoneInfo) -> timedelta:
    """How long from `now` until the next `at` on the wall clock of `zone` (today if still
    ahead, else tomorrow). Computed on wall-clock dates, so DST days of 23 or 25 hours land
    on the right hour; a time skipped by a DST jump resolves to the hour after it."""
    local = now.astimezone(zone)
    target = datetime.combine(local.date(), at, tzinfo=zone)
    if target <= local:
        target = datetime.combine(local.date() + timedelta(days=1), at, tzinfo=zone)
    return target.astimezone(UTC) - now.astimezone(UTC)


def quiet_wait(now: datetime, zone: ZoneInfo, start: time, end: time) -> timedelta:
    """How long a send must wait so it does not fall in the quiet window [start, end) of the
    customer's wall clock (a window may cross midnight: 21:00-08:00). Zero outside it."""
    local = now.astimezone(zone).time().replace(tzinfo=None)
    inside = start <= local < end if start < end else (local >= start or local < end)
    return until_local(now, end, zone) if inside else timedelta(0)
