"""A backtest whose customer reaches the goal while a send is on its way. A live run cancels
such a send; a backtest's waits for it (its recorder answers at once), so the report does not
depend on which came first in real time, and the simulated clock goes on. Cancelled sends
stopped the time-skipping test server's clock for good: a whole-CDNOW win_back backtest hung
twice where a refresh entered a customer whose order came at the same simulated moment. And a
clock held with nothing left to do ends the backtest with an error in minutes, not hours."""

import asyncio
import sys
import threading
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from temporalio import workflow
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from journeys.activities.channels import ChannelActivities
from journeys.backtest.run import (
    ClockStalled,
    Progress,
    ShardJob,
    _run_shard_process,
    backtest_settings,
    backtest_worker,
    sleep_simulated,
)
from journeys.config.settings import Settings
from journeys.store.db import upgrade_schema
from journeys.vocabulary.ids import journey_workflow_id
from journeys.vocabulary.journey_types import DeliveryResult, JourneyProgress, QueueMessageInput
from tests.helpers.events import event, identify
from tests.helpers.journeys import events_passed, publish, send
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


async def test_a_goal_during_a_send_lets_it_finish_and_the_simulated_clock_run_on(
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

        async def told() -> None:  # the customer passed the order on to the run
            while not await events_passed(client, run.id):
                await asyncio.sleep(0.1)

        await asyncio.wait_for(told(), timeout=30)
        release.set()
        # a day on: the run's timer is gone, the clock must simply move
        await asyncio.wait_for(skipping_env.sleep(timedelta(days=1)), timeout=30)
        progress = await run.result()
        state = await wait_for(client, cid, lambda s: not s.journeys.active)
    assert progress.outcome == "converted"
    assert [(s.step, s.result) for s in progress.steps] == [("hello", "email sent")]
    assert state.journeys.entries == {"thanks": 1}


@workflow.defn(sandboxed=False)
class WaitsForNobody:
    """Schedules an activity no worker polls for: the test server holds its clock for it."""

    @workflow.run
    async def run(self) -> None:
        await workflow.execute_activity(
            "nobody_runs_this", task_queue="nobody", start_to_close_timeout=timedelta(hours=1)
        )


async def test_a_clock_held_with_nothing_left_to_do_ends_the_backtest_with_an_error(
    skipping_env: WorkflowEnvironment,
) -> None:
    async with Worker(skipping_env.client, task_queue="held", workflows=[WaitsForNobody]):
        await sleep_simulated(skipping_env, timedelta(days=1), stalled_after=2)  # skips at once
        await skipping_env.client.start_workflow(WaitsForNobody.run, id="held", task_queue="held")
        began = time.monotonic()
        with pytest.raises(ClockStalled, match="the simulated clock stopped at"):
            await sleep_simulated(skipping_env, timedelta(days=1), stalled_after=2)
    assert time.monotonic() - began < 20  # not the two hours the sleep itself would take


async def test_a_shard_side_by_side_whose_clock_stalled_says_so_in_one_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With `--jobs` over 1 the stall happens in a shard's own process: it sends the error to
    the parent, which raises it again (the CLI prints it as one line), not a traceback and a
    "failed, its error is above". A stand-in shard, since only a test server bug stalls one."""
    shard = tmp_path / "shard"
    said = "the simulated clock stopped at 2027-01-01 00:00:00 with no work left for 300 s"
    shard.write_text(
        f"#!{sys.executable}\n"
        "import json, sys\n"
        "sys.stdin.readline()\n"
        'print(json.dumps({"calls": 3, "customers": ["a"], "day": 4}), flush=True)\n'
        f"print(json.dumps({{'error': {said!r}}}), flush=True)\n"
        "sys.exit(1)\n"
    )
    shard.chmod(0o755)
    monkeypatch.setattr(sys, "executable", str(shard))
    start = datetime(2027, 1, 1, tzinfo=UTC)
    job = ShardJob(
        events=tmp_path, shard=2, resolution=timedelta(minutes=1), settings=Settings(),
        start=start, end=start + timedelta(days=7), journey="thanks", schedules=None,
    )  # fmt: skip
    progress = Progress()
    with pytest.raises(ClockStalled) as stalled:
        await _run_shard_process(job, progress, asyncio.Event(), None)
    assert str(stalled.value) == f"shard 2: {said}"
    assert progress.calls == 3  # what it fed before is counted
