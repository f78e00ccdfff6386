"""After an evaluation, how many more plain events (no traits, order or stage change) cannot
change a membership, and until when (`quiet_after`): the customer's workflow skips asking for
those. Each case is checked against evaluation itself: one event more than the quiet changes
the answer, the quiet's events do not."""

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from journeys.segments.definition import parse_definition
from journeys.segments.evaluate import QUIET_AT_MOST, CustomerFacts, is_member, quiet_after

NOW = datetime(2025, 3, 1, 9, 0, tzinfo=UTC)


def facts(*events: tuple[str, str | None, datetime], **traits: Any) -> CustomerFacts:
    return CustomerFacts(customer_id="c", traits=traits, stage="consideration",
                         events=list(events), orders=[])  # fmt: skip


def views(n: int, at: datetime = NOW - timedelta(hours=1)) -> list[tuple[str, str, datetime]]:
    return [("track", "Product Viewed", at)] * n


def segment(condition: dict[str, Any]) -> Any:
    return parse_definition({"name": "s", "condition": condition})


VIEWED_3 = {"field": "events.count", "event": "Product Viewed", "within": "7d", "gte": 3}
ENGAGED = {"field": "engagement", "in": ["medium", "high"]}  # 5 or more in 30 days
FEW_PAGES = {"field": "events.count", "type": "page", "lte": 1}


@pytest.mark.parametrize(
    ("condition", "had", "quiet"),
    [
        (VIEWED_3, 0, 2),  # the third view may change it
        (VIEWED_3, 2, 0),
        (VIEWED_3, 3, QUIET_AT_MOST),  # a count only grows with events
        (ENGAGED, 3, 1),
        (ENGAGED, 5, QUIET_AT_MOST),  # medium to high stays in
        ({"not": VIEWED_3}, 1, 1),
        ({"field": "events.count", "event": "Product Viewed", "eq": 4}, 1, 2),
    ],
)
def test_the_quiet_ends_just_before_the_event_that_can_change_the_answer(
    condition: dict[str, Any], had: int, quiet: int
) -> None:
    definition = segment(condition)
    found = quiet_after([definition], facts(*views(had)), as_of=NOW)
    assert found.events == quiet
    if quiet < QUIET_AT_MOST:
        answers = [is_member(definition, facts(*views(had + more)), as_of=NOW, thresholds=None)
                   for more in range(quiet + 2)]  # fmt: skip
        assert answers[: quiet + 1] == [answers[0]] * (quiet + 1) and answers[-1] != answers[0]


def test_any_event_counts_against_every_count_rule() -> None:
    """Plain events of any name use up the quiet: pages too, which another rule counts."""
    both = [segment(VIEWED_3), segment(FEW_PAGES)]
    assert quiet_after(both, facts(*views(1)), as_of=NOW).events == 1  # the 2nd page
    only_traits = [segment({"field": "traits.country", "eq": "GB"})]
    assert quiet_after(only_traits, facts(*views(1)), as_of=NOW).events == QUIET_AT_MOST


def test_the_quiet_lasts_until_the_first_counted_event_leaves_its_window() -> None:
    old, recent = NOW - timedelta(days=6), NOW - timedelta(days=2)
    timeline = facts(*views(1, old), *views(2, recent), ("track", "Product Viewed",
                                                         NOW - timedelta(days=9)))  # fmt: skip
    quiet = quiet_after([segment(VIEWED_3)], timeline, as_of=NOW)
    assert quiet.events == QUIET_AT_MOST and quiet.until == old + timedelta(days=7)
    ever = {"field": "events.count", "event": "Product Viewed", "gte": 3}  # no window: no end
    assert quiet_after([segment(ever)], timeline, as_of=NOW).until is None
