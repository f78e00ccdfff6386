"""Journey runs started and fed by activities (`activities/runs.py`): a local activity may run
twice, so a repeated start or a repeated batch of events must change nothing."""

import uuid

import pytest
import yaml
from temporalio.testing import ActivityEnvironment, WorkflowEnvironment

from journeys.activities.runs import LINEAGE, pass_events, start_runs
from journeys.config.settings import Settings
from journeys.store.db import session_scope
from journeys.store.journey_runs import journey_events
from journeys.vocabulary.events import EventBatch
from journeys.vocabulary.ids import journey_workflow_id
from journeys.vocabulary.journey_spec import JourneySpec
from journeys.vocabulary.journey_types import JourneyInput, RunEvents, RunStart
from journeys.worker.main import build_worker
from journeys.workflows.journey import JourneyWorkflow
from tests.helpers.events import event
from tests.helpers.journeys import finished, until_progress

TWICE = """
name: twice
trigger: {event: Checkout Started}
steps:
  - {id: first, kind: wait_for_event, event: Product Viewed, timeout: 1d}
  - {id: second, kind: wait_for_event, event: Product Viewed, timeout: 1d}
"""


def _start(cid: str, lineage: str, task_queue: str) -> RunStart:
    spec = JourneySpec.model_validate(yaml.safe_load(TWICE))
    return RunStart(
        workflow_id=journey_workflow_id("twice", cid, 1),
        input=JourneyInput(
            customer_id=cid,
            name="twice",
            version=1,
            run=1,
            spec=spec,
            trigger_event=event("Checkout Started"),
        ),  # fmt: skip
        task_queue=task_queue,
        lineage=lineage,
    )


async def test_a_repeated_start_finds_its_run_and_another_customer_s_run_is_refused(
    skipping_env: WorkflowEnvironment, settings: Settings
) -> None:
    activities = ActivityEnvironment(client=skipping_env.client)
    cid = f"c-{uuid.uuid4()}"
    ours = _start(cid, "lineage-a", settings.task_queue)
    assert await activities.run(start_runs, [ours]) == []
    assert await activities.run(start_runs, [ours]) == []  # the retry: still ours, not refused
    theirs = _start(cid, "lineage-b", settings.task_queue)  # a customer recreated from scratch
    assert await activities.run(start_runs, [theirs]) == [theirs.workflow_id]
    described = await skipping_env.client.get_workflow_handle(ours.workflow_id).describe()
    assert await described.memo_value(LINEAGE) == "lineage-a"  # the first start's, untouched


async def test_events_passed_twice_count_once_and_a_run_that_is_gone_is_reported(
    skipping_env: WorkflowEnvironment, settings: Settings
) -> None:
    activities = ActivityEnvironment(client=skipping_env.client)
    cid = f"c-{uuid.uuid4()}"
    start = _start(cid, "lineage-a", settings.task_queue)
    viewed = RunEvents(workflow_id=start.workflow_id, events=[event("Product Viewed")])
    async with build_worker(skipping_env.client, settings):
        assert await activities.run(start_runs, [start]) == []
        assert await activities.run(pass_events, [viewed], []) == []
        assert await activities.run(pass_events, [viewed], []) == []  # a retried activity
        done = await finished(skipping_env, start.workflow_id)
        # the one view satisfies the first wait only; the second times out
        assert [(s.step, s.result) for s in done.steps] == [
            ("first", "event"),
            ("second", "timeout"),
        ]
        gone = await activities.run(pass_events, [viewed], [])
    assert gone == [start.workflow_id]


PINGER = """
name: pinger
trigger: {event: Signed Up}
goal: {event: Cancelled}
steps:
  - {id: listen, kind: wait_for_event, event: Ping, timeout: 30d, on_timeout: done}
  - {id: again, kind: branch, cases: [{when: 'event == "Ping"', goto: listen}]}
  - {id: done, kind: exit}
"""


@pytest.mark.slow
async def test_a_run_that_loops_for_ever_continues_as_new_and_loses_nothing(
    dev_env: WorkflowEnvironment, settings: Settings
) -> None:
    """A run going round a loop (an Advocate journey that lives for years) hands itself over
    between steps: visits, records and dedup go on where they stood."""
    client, cid = dev_env.client, f"c-{uuid.uuid4()}"
    workflow_id = journey_workflow_id("pinger", cid, 1)
    pings = [event("Ping", n=i) for i in range(60)]
    async with build_worker(client, settings):
        handle = await client.start_workflow(
            JourneyWorkflow.run,
            JourneyInput(customer_id=cid, name="pinger", version=1, run=1,
                         spec=JourneySpec.model_validate(yaml.safe_load(PINGER)),
                         trigger_event=event("Signed Up"), continue_as_new_after=80),
            id=workflow_id, task_queue=settings.task_queue,
        )  # fmt: skip
        for n, ping in enumerate(pings, start=1):
            batch = [ping] if n < 40 else [ping, pings[5]]  # later: an old ping passed again
            await handle.signal("events", EventBatch(events=batch))
            await until_progress(client, workflow_id, lambda p, n=n: p.visits.get("again") == n)
        # listening again (a goal before then ends the run between two steps)
        await until_progress(
            client, workflow_id, lambda p: p.visits.get("listen") == len(pings) + 1
        )
        await handle.signal("events", EventBatch(events=[event("Cancelled")]))
        done = await handle.result()
        final = await handle.describe()
    assert done.outcome == "converted"
    assert done.visits == {"listen": 61, "again": 60}
    assert done.generation >= 3, f"continued as new {done.generation} times"
    assert final.history_length < 120
    with session_scope(settings.database_url) as session:
        records = journey_events(session, workflow_id=workflow_id)
    assert [r.seq for r in records] == list(range(1, len(records) + 1))  # none lost or doubled
    assert [r.kind for r in records][:1] + [r.kind for r in records][-1:] == [
        "entered", "converted",
    ]  # fmt: skip
    assert len(records) == 1 + 60 * 2 + 1 + 1  # entered, each loop's two steps, listen, converted
