"""Quiet hours: a send due while it is night for the customer (their `timezone` trait) waits,
as a durable timer, until the window ends on their wall clock; the goal met meanwhile means it
never goes out. Runs on the time-skipping server, so the window is set around its clock."""

import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from temporalio.testing import WorkflowEnvironment

from journeys.config.settings import Settings
from journeys.store.db import session_scope
from journeys.store.journey_runs import customer_messages, journey_events
from journeys.vocabulary import search_attributes as sa
from journeys.vocabulary.ids import journey_workflow_id
from journeys.worker.main import build_worker
from tests.helpers.events import event, identify
from tests.helpers.journeys import finished, publish, send
from tests.helpers.temporal import wait_for, wait_for_attribute

REMIND = """
name: remind
trigger: {event: Checkout Started}
goal: {event: Order Completed}
steps:
  - {id: email, kind: send, channel: email, template: cart_email}
  - {id: rest, kind: wait, duration: 1d}
"""
ZONE = "Asia/Tokyo"


@dataclass
class Night:
    settings: Settings
    cid: str
    run_id: str
    catalog: int
    ends: datetime  # the end of the quiet window, UTC


@asynccontextmanager
async def entered_at_night(env: WorkflowEnvironment, settings: Settings) -> AsyncIterator[Night]:
    """A customer in Tokyo entering `remind` while its worker runs, with a quiet window that on
    the customer's wall clock began an hour ago and ends in two hours."""
    now = (await env.get_current_time()).astimezone(ZoneInfo(ZONE))
    start, end = now - timedelta(hours=1), now + timedelta(hours=2)
    settings = settings.model_copy(update={"quiet_hours": f"{start:%H:%M}-{end:%H:%M}"})
    catalog, cid = publish(settings, REMIND), f"c-{uuid.uuid4()}"
    night = Night(settings, cid, journey_workflow_id("remind", cid, 1), catalog,
                  end.replace(second=0, microsecond=0).astimezone(UTC))  # fmt: skip
    async with build_worker(env.client, settings):
        await send(env.client, settings, cid, identify(timezone=ZONE), catalog=catalog)
        await send(env.client, settings, cid, event("Checkout Started"), catalog=catalog)
        await wait_for(env.client, cid, lambda s: "remind" in s.journeys.active)
        yield night


async def test_a_send_due_at_night_goes_out_when_the_customers_quiet_hours_end(
    skipping_env: WorkflowEnvironment, settings: Settings
) -> None:
    async with entered_at_night(skipping_env, settings) as night:
        done = await finished(skipping_env, night.run_id)
    assert done.outcome == "completed"
    assert [(s.step, s.result) for s in done.steps] == [("email", "email queued"), ("rest", "")]
    with session_scope(settings.database_url) as session:
        [message] = customer_messages(session, customer_ids=[night.cid])
        records = journey_events(session, workflow_id=night.run_id)
    assert message.template == "cart_email"
    assert [(r.seq, r.kind, r.step, r.detail) for r in records] == [
        (1, "entered", None, "v1"),
        (2, "step", "email", "email queued"),
        (3, "step", "rest", ""),
        (4, "completed", None, "rest"),
    ]
    sent_at = next(r.at for r in records if r.step == "email").replace(tzinfo=UTC)
    assert night.ends <= sent_at < night.ends + timedelta(minutes=1)  # the run's clock then


async def test_the_goal_met_during_quiet_hours_means_the_send_never_goes_out(
    skipping_env: WorkflowEnvironment, settings: Settings
) -> None:
    async with entered_at_night(skipping_env, settings) as night:
        run = skipping_env.client.get_workflow_handle(night.run_id)
        # until the run sleeps through the window (it says where it waits)
        await wait_for_attribute(skipping_env.client, run.id, sa.JOURNEY_STEP, "email")
        order = event("Order Completed", order_id="o1")
        await send(skipping_env.client, night.settings, night.cid, order, catalog=night.catalog)
        done = await finished(skipping_env, night.run_id)
    assert done.outcome == "converted"
    assert [(s.step, s.result) for s in done.steps] == [("email", "interrupted: converted")]
    with session_scope(settings.database_url) as session:
        assert customer_messages(session, customer_ids=[night.cid]) == []
        kinds = [(r.kind, r.detail) for r in journey_events(session, workflow_id=night.run_id)]
    assert kinds == [("entered", "v1"), ("step", "interrupted: converted"), ("converted", "email")]
