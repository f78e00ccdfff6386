"""The batch refresh and a customer's own evaluation racing, in chosen orders: whatever the
interleaving, the last `Segment Entered` / `Segment Exited` the customer's workflow applies for
a segment says what the store says. No Temporal: the refresh activity runs in an
ActivityEnvironment with `deliver` replaced by the customer's inbox, which applies events in
arrival order and each message id once (what CustomerWorkflow._queue does). On SQLite and
PostgreSQL."""

from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from temporalio.testing import ActivityEnvironment

import journeys.activities.segments as segment_activities
from journeys.activities.segments import SegmentActivities, evaluate_customer
from journeys.segments.definition import parse_definition
from journeys.store.db import session_scope
from journeys.store.models import Event
from journeys.store.segments import customer_memberships, save_segment
from journeys.vocabulary.events import CustomerEvent
from journeys.vocabulary.segment_types import (
    SEGMENT_ENTERED,
    SegmentEvaluation,
    SegmentRefreshInput,
)

T0 = datetime(2025, 3, 1, 9, 0, tzinfo=UTC)  # the refresh's as_of
VIEWERS = parse_definition(
    {
        "name": "viewers",
        "condition": {"field": "events.count", "event": "Product Viewed", "within": "7d", "gte": 2},
    }
)


class Inbox:
    """One customer's workflow as far as segment events go."""

    def __init__(self) -> None:
        self.seen: set[str] = set()
        self.applied: list[CustomerEvent] = []

    def receive(self, events: list[CustomerEvent]) -> None:
        for event in events:
            if event.message_id not in self.seen:  # a duplicate messageId is dropped
                self.seen.add(event.message_id)
                self.applied.append(event)

    def own(self, customer_id: str, result: SegmentEvaluation) -> None:
        """The evaluation activity's answer, queued as CustomerWorkflow._evaluate_segments does."""
        self.receive([
            CustomerEvent(message_id=c.message_id(customer_id), type="track", event=c.event_name,
                          timestamp=c.at, properties={"segment": c.segment})
            for c in result.changes
        ])  # fmt: skip

    def in_segment(self, segment: str) -> bool:
        """What the journeys were told last: entered (True) or exited (False)."""
        told = [e for e in self.applied if e.properties["segment"] == segment]
        return bool(told) and told[-1].event == SEGMENT_ENTERED


def _in_store(url: str, customer_id: str, segment: str) -> bool:
    with session_scope(url) as session:
        return segment in {
            m.segment for m in customer_memberships(session, customer_id=customer_id)
        }


def _view(url: str, customer_id: str, n: int, at: datetime) -> None:
    with session_scope(url) as session:
        session.add(
            Event(message_id=f"{customer_id}-{n}", customer_id=customer_id, type="track",
                  event="Product Viewed", timestamp=at, received_at=at)
        )  # fmt: skip


def _evaluate(
    url: str, customer_id: str, at: datetime, stage: str = "awareness"
) -> SegmentEvaluation:
    with session_scope(url) as session:
        return evaluate_customer(session, customer_id=customer_id, stage=stage, at=at)


@pytest.fixture
def inboxes(monkeypatch: pytest.MonkeyPatch) -> dict[str, Inbox]:
    """The refresh's signals land in these (one per customer)."""
    boxes: dict[str, Inbox] = {}

    async def deliver(_client: Any, *, task_queue: str, customer_id: str,
                      events: list[CustomerEvent], catalog_version: int = 0) -> None:  # fmt: skip
        boxes.setdefault(customer_id, Inbox()).receive(events)

    monkeypatch.setattr(segment_activities, "deliver", deliver)
    return boxes


async def _refresh(
    url: str, as_of: datetime, monkeypatch: pytest.MonkeyPatch,
    between: Callable[[], None] | None = None,
) -> None:  # fmt: skip
    """One attempt of `refresh_segments` (no heartbeat details: it evaluates, then delivers);
    `between` runs after the memberships are stored, before the changes are read to deliver."""
    real = segment_activities.refresh_memberships

    def refresh_memberships(database_url: str, *, as_of: datetime) -> Iterator[str]:
        yield from real(database_url, as_of=as_of)
        if between is not None:
            between()

    with monkeypatch.context() as patch:
        patch.setattr(segment_activities, "refresh_memberships", refresh_memberships)
        activities = SegmentActivities(url, task_queue="unused")
        await ActivityEnvironment(client=object()).run(  # type: ignore[arg-type]
            activities.refresh_segments, SegmentRefreshInput(as_of=as_of)
        )


def _viewer_aging_out(url: str) -> None:
    """In `viewers` as of T0; two minutes later the older view has left the 7-day window."""
    with session_scope(url) as session:
        save_segment(session, definition=VIEWERS)
    _view(url, "v1", 1, T0 - timedelta(days=7) + timedelta(minutes=1))
    _view(url, "v1", 2, T0 - timedelta(hours=1))


async def test_an_own_exit_between_the_refresh_writing_and_delivering_is_the_last_word(
    database_url: str, inboxes: dict[str, Inbox], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The refresh opens a stay at T0; before it delivers, the customer's own evaluation (T0 +
    2 min) closes it and its workflow applies `Segment Exited` at once. The refresh's
    `Segment Entered` (T0) must not arrive after it: the customer is out."""
    url = database_url
    _viewer_aging_out(url)
    inbox = inboxes.setdefault("v1", Inbox())
    own = lambda: inbox.own("v1", _evaluate(url, "v1", T0 + timedelta(minutes=2)))  # noqa: E731
    await _refresh(url, T0, monkeypatch, between=own)
    assert not _in_store(url, "v1", "viewers")
    assert [e.event for e in inbox.applied][:1] == ["Segment Exited"]
    assert inbox.in_segment("viewers") is False


async def test_an_own_entry_between_the_refresh_writing_and_delivering_is_the_last_word(
    database_url: str, inboxes: dict[str, Inbox], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The reverse: the refresh closes a stay at T0 (a view left the window); before it
    delivers, a new view and the customer's own evaluation (T0 + 2 min) open a new one. The
    refresh's `Segment Exited` (T0) must not arrive after the `Segment Entered`: the customer
    is in."""
    url = database_url
    with session_scope(url) as session:
        save_segment(session, definition=VIEWERS)
    _view(url, "v1", 1, T0 - timedelta(days=7))  # out of the window at T0 exactly
    _view(url, "v1", 2, T0 - timedelta(days=3))
    inbox = inboxes.setdefault("v1", Inbox())
    inbox.own("v1", _evaluate(url, "v1", T0 - timedelta(hours=1)))  # in since then
    assert inbox.in_segment("viewers") and _in_store(url, "v1", "viewers")

    def view_and_evaluate() -> None:
        _view(url, "v1", 3, T0 + timedelta(minutes=1))
        inbox.own("v1", _evaluate(url, "v1", T0 + timedelta(minutes=2)))

    await _refresh(url, T0, monkeypatch, between=view_and_evaluate)
    assert _in_store(url, "v1", "viewers")
    assert inbox.in_segment("viewers") is True


async def test_a_refresh_retried_after_an_own_exit_enters_no_one_unannounced(
    database_url: str, inboxes: dict[str, Inbox], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The refresh delivered `Segment Entered` (T0), the customer's own evaluation then closed
    the stay (T0 + 2 min), and the refresh is retried from the start (its heartbeat saying it
    was delivering never reached the server: heartbeats are throttled). Re-evaluating as of T0
    must not open a second stay at T0: its `Segment Entered` would carry the first one's
    message id, be dropped as a duplicate, and leave the customer in the segment unannounced."""
    url = database_url
    _viewer_aging_out(url)
    await _refresh(url, T0, monkeypatch)
    inbox = inboxes["v1"]
    assert inbox.in_segment("viewers")
    inbox.own("v1", _evaluate(url, "v1", T0 + timedelta(minutes=2)))
    assert not inbox.in_segment("viewers")
    await _refresh(url, T0, monkeypatch)  # the retry
    assert inbox.in_segment("viewers") is _in_store(url, "v1", "viewers") is False


async def test_a_refresh_does_not_undo_what_evaluations_did_after_it_read_the_members(
    database_url: str, inboxes: dict[str, Inbox], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The refresh reads the members (the customer is in), then, before it writes, the
    customer's own evaluations close that stay (T0 + 1 min) and, after a new view, open
    another (T0 + 3 min). The refresh's exit as of T0 must not close the newer stay: the
    customer is in, as the latest evaluation says, and the workflow was told so last."""
    url = database_url
    with session_scope(url) as session:
        save_segment(session, definition=VIEWERS)
    _view(url, "v1", 1, T0 - timedelta(days=7))  # out of the window at T0 exactly
    _view(url, "v1", 2, T0 - timedelta(days=3))
    inbox = inboxes.setdefault("v1", Inbox())
    inbox.own("v1", _evaluate(url, "v1", T0 - timedelta(hours=1)))
    real = segment_activities.member_ids
    pending = [True]

    def member_ids(session: Any, *, segment: str) -> set[str]:
        members = real(session, segment=segment)
        if pending and segment == "viewers":
            pending.clear()
            inbox.own("v1", _evaluate(url, "v1", T0 + timedelta(minutes=1)))  # exits
            _view(url, "v1", 3, T0 + timedelta(minutes=2))
            inbox.own("v1", _evaluate(url, "v1", T0 + timedelta(minutes=3)))  # enters again
        return members

    monkeypatch.setattr(segment_activities, "member_ids", member_ids)
    await _refresh(url, T0, monkeypatch)
    assert [e.event for e in inbox.applied] == ["Segment Entered", "Segment Exited",
                                                "Segment Entered"]  # fmt: skip
    assert _in_store(url, "v1", "viewers") and inbox.in_segment("viewers")
