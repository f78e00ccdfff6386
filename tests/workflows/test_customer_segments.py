"""Segments in the customer's life (time-skipping server): after its events the customer's
workflow evaluates its segments, an entry becomes a `Segment Entered` event, a journey
triggered by that segment starts, and its branch conditions see the customer's segments."""

import asyncio
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from temporalio.api.enums.v1 import EventType
from temporalio.client import Client
from temporalio.testing import WorkflowEnvironment

from journeys.api.app import create_app
from journeys.config.settings import Settings
from journeys.config.temporal import DATA_CONVERTER
from journeys.segments.definition import parse_definition
from journeys.store.db import session_scope
from journeys.store.journeys import CatalogError
from journeys.store.segments import customer_memberships, save_segment
from journeys.vocabulary.activity_refs import APPLY_CUSTOMER_CHANGES
from journeys.vocabulary.customer_types import CustomerChangesInput, CustomerState
from journeys.vocabulary.ids import customer_workflow_id, journey_workflow_id
from journeys.worker.main import build_worker
from tests.helpers.events import event
from tests.helpers.journeys import finished, publish, send
from tests.helpers.temporal import wait_for

BIG_SPENDERS = {
    "name": "big_spenders",
    "condition": {"all": [{"field": "orders.total", "within": "365d", "gte": 100}]},
}

VIP = """
name: vip_welcome
trigger: {segment_entered: big_spenders}
steps:
  - id: check
    kind: branch
    cases: [{when: '"big_spenders" in segments', goto: tag}]
    otherwise: done
  - {id: done, kind: exit, reason: not a member}
  - {id: tag, kind: update_profile, traits: {vip: true}}
"""


async def test_a_customer_entering_a_segment_starts_its_journey(
    skipping_env: WorkflowEnvironment, sqlite_url: str, task_queue: str
) -> None:
    settings = Settings(database_url=sqlite_url, task_queue=task_queue, quiet_hours="")
    with session_scope(sqlite_url) as session:
        save_segment(session, definition=parse_definition(BIG_SPENDERS))
    catalog = publish(settings, VIP)
    client, small, big = skipping_env.client, f"c-{uuid.uuid4()}", f"c-{uuid.uuid4()}"
    async with build_worker(client, settings):
        await send(client, settings, small, event("Order Completed", order_id=f"{small}-1",
                                                  total=20), catalog=catalog)  # fmt: skip
        await send(client, settings, big, event("Order Completed", order_id=f"{big}-1",
                                                total=250), catalog=catalog)  # fmt: skip
        state = await wait_for(client, big, lambda s: "vip_welcome" in s.journeys.entries)
        run = await finished(skipping_env, journey_workflow_id("vip_welcome", big, 1))
        other = await wait_for(client, small, lambda s: s.events_total == 1)
    assert state.segments == ["big_spenders"] and state.event_counts["Segment Entered"] == 1
    assert [(s.step, s.result) for s in run.steps] == [("check", "case 1"), ("tag", "")]
    assert other.segments == [] and "vip_welcome" not in other.journeys.entries
    with session_scope(sqlite_url) as session:
        assert [m.segment for m in customer_memberships(session, customer_id=big)] == [
            "big_spenders"
        ]
        assert customer_memberships(session, customer_id=small) == []


def test_publishing_refuses_a_journey_naming_an_unknown_segment(sqlite_url: str) -> None:
    settings = Settings(database_url=sqlite_url)
    with pytest.raises(CatalogError) as refused:
        publish(settings, VIP)
    message = str(refused.value)
    assert "trigger.segment_entered: unknown segment 'big_spenders'" in message
    assert "steps[0].cases[0].when: unknown segment 'big_spenders'" in message
    with session_scope(sqlite_url) as session:
        save_segment(session, definition=parse_definition(BIG_SPENDERS))
    assert publish(settings, VIP) > 0


def test_publishing_refuses_a_decide_action_naming_an_unknown_segment(sqlite_url: str) -> None:
    """A `decide` action's `when` reads segments too: a name nobody defined would leave the
    action never eligible, so publishing says so."""
    offer = """
name: vip_offer
trigger: {event: Product Viewed}
steps:
  - id: pick
    kind: decide
    actions:
      - {name: plain, goto: done, value: 1}
      - {name: vip, goto: done, value: 5, when: '"big_spenders" in segments'}
  - {id: done, kind: exit, reason: offered}
"""
    with pytest.raises(CatalogError) as refused:
        publish(Settings(database_url=sqlite_url), offer)
    assert "steps[0].actions[1].when: unknown segment 'big_spenders'" in str(refused.value)


BROWSERS = {  # three product views within a week
    "name": "browsers",
    "condition": {"all": [{"field": "events.count", "event": "Product Viewed", "within": "7d",
                           "gte": 3}]},
}  # fmt: skip
TWO_VIEWS = {
    "name": "two_views",
    "condition": {"all": [{"field": "events.count", "event": "Product Viewed", "gte": 2}]},
}


async def evaluations(client: Client, cid: str) -> int:
    """How many of the customer's store activities evaluated its segments."""
    history = await client.get_workflow_handle(customer_workflow_id(cid)).fetch_history()
    asked = 0
    for e in history.events:
        scheduled = e.activity_task_scheduled_event_attributes
        if e.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED and (
            scheduled.activity_type.name == APPLY_CUSTOMER_CHANGES.name
        ):
            [changes] = await DATA_CONVERTER.decode(
                scheduled.input.payloads, [CustomerChangesInput]
            )
            asked += changes.segments is not None
    return asked


async def test_a_customer_asks_its_segments_again_only_when_an_event_can_change_one(
    skipping_env: WorkflowEnvironment, sqlite_url: str, task_queue: str
) -> None:
    """Browsing is most of a shop's events: after each evaluation the customer is told how
    many more plain events cannot change a membership, and asks again only after them — or at
    once when the segments change, or when a counted event has left its window."""
    settings = Settings(database_url=sqlite_url, task_queue=task_queue, quiet_hours="",
                        write_keys=["w"])  # fmt: skip
    with session_scope(sqlite_url) as session:
        save_segment(session, definition=parse_definition(BROWSERS))
    client, cid = skipping_env.client, f"c-{uuid.uuid4()}"
    start = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=10)  # views of the past
    app = create_app(settings, client=client)
    async with (
        build_worker(client, settings),
        httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://a") as api,
    ):

        async def view(n: int, at: datetime | None, then: Callable[[CustomerState], bool]) -> None:
            call = {"userId": cid, "event": "Product Viewed", "messageId": f"{cid}-{n}"}
            if at is not None:  # else now, as the API receives it
                call["timestamp"] = at.isoformat()
            assert (await api.post("/v1/track", auth=("w", ""), json=call)).status_code == 200
            await wait_for(client, cid, lambda s: s.event_counts["Product Viewed"] == n and then(s))
            await asyncio.sleep(0.3)  # anything it asked for is in the history by now

        for n in range(1, 7):
            await view(n, start + timedelta(seconds=n),
                       lambda s, n=n: ("browsers" in s.segments) == (n >= 3))  # fmt: skip
        # asked after the first view and the third, which the first said could change it
        assert await evaluations(client, cid) == 2

        with session_scope(sqlite_url) as session:  # new segments: the next view asks
            save_segment(session, definition=parse_definition(TWO_VIEWS))
        await view(7, start + timedelta(seconds=7), lambda s: "two_views" in s.segments)
        assert await evaluations(client, cid) == 3

        # a week on, the first views have left browsers' window: the next view asks, though
        # nothing else has asked since (no refresh runs here)
        await skipping_env.sleep(timedelta(days=7, minutes=20))
        await view(8, None, lambda s: "browsers" not in s.segments)
        assert await evaluations(client, cid) == 4
