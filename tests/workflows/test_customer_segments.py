"""Segments in the customer's life (time-skipping server): after its events the customer's
workflow evaluates its segments, an entry becomes a `Segment Entered` event, a journey
triggered by that segment starts, and its branch conditions see the customer's segments."""

import uuid

import pytest
from temporalio.testing import WorkflowEnvironment

from journeys.config.settings import Settings
from journeys.segments.definition import parse_definition
from journeys.store.db import session_scope
from journeys.store.journeys import CatalogError
from journeys.store.segments import customer_memberships, save_segment
from journeys.vocabulary.ids import journey_workflow_id
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
