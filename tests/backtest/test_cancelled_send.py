"""A backtest whose customer reaches the goal while a send is on its way: the run cancels the
send and ends, and the simulated clock must go on. The time-skipping test server stopped its
clock for good when a cancelled activity outlived its workflow: a whole-CDNOW win_back backtest
hung where a refresh entered a customer whose order came at the same simulated moment."""

import asyncio
import threading
import uuid
from datetime import timedelta

import pytest
from temporalio.api.enums.v1 import EventType
from temporalio.testing import WorkflowEnvironment

from journeys.activities.channels import ChannelActivities
from journeys.backtest.run import backtest_settings, backtest_worker
from journeys.config.settings import Settings
from journeys.store.db import upgrade_schema
from journeys.vocabulary.ids import journey_workflow_id
from journeys.vocabulary.journey_types import DeliveryResult, JourneyProgress, QueueMessageInput
from tests.helpers.events import event, identify
from tests.helpers.journeys import publish, send
from tests.helpers.temporal import until, wait_for

GOAL_DURING_SEND = """
name: thanks
trigger: {event: Product Viewed}
goal: {event: Order Completed}
re_entry: {policy: never}
steps:
  - {id: hello, kind: send, channel: email, template: welcome_email}
  - {id: later, kind: wait, duration: 1d}
"""


async def test_a_send_cancelled_by_the_goal_leaves_the_simulated_clock_running(
    skipping_env: WorkflowEnvironment, sqlite_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    upgrade_schema(sqlite_url)
    settings = backtest_settings(Settings(quiet_hours=""), sqlite_url)
    catalog = publish(settings, GOAL_DURING_SEND)
    sending, release = threading.Event(), threading.Event()

    deliver = ChannelActivities._deliver

    def held(self: ChannelActivities, message: QueueMessageInput) -> DeliveryResult:
        result = deliver(self, message)  # recorded; the activity is held before it returns
        sending.set()
        release.wait(timeout=60)
        return result

    monkeypatch.setattr(ChannelActivities, "_deliver", held)
    client, cid = skipping_env.client, f"c-{uuid.uuid4()}"
    run = client.get_workflow_handle(
        journey_workflow_id("thanks", cid, 1), result_type=JourneyProgress
    )
    async with backtest_worker(client, settings):
        await send(client, settings, cid, identify(email="a@example.com"), catalog=catalog)
        await send(client, settings, cid, event("Product Viewed"), catalog=catalog)
        await until(sending.is_set)
        await send(client, settings, cid, event("Order Completed"), catalog=catalog)

        async def cancel_asked() -> bool:
            kinds = [e.event_type async for e in run.fetch_history_events()]
            return EventType.EVENT_TYPE_ACTIVITY_TASK_CANCEL_REQUESTED in kinds

        for _ in range(300):
            if await cancel_asked():
                break
            await asyncio.sleep(0.1)
        else:
            pytest.fail("the goal did not cancel the send")
        release.set()
        # a day on: the run's timer is gone, the clock must simply move
        await asyncio.wait_for(skipping_env.sleep(timedelta(days=1)), timeout=30)
        progress = await run.result()
        state = await wait_for(client, cid, lambda s: not s.journeys.active)
    assert progress.outcome == "converted"
    assert [s.step for s in progress.steps] == ["hello"]
    assert state.journeys.entries == {"thanks": 1}
