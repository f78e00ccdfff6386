"""Journey runs started and fed by activities (`activities/runs.py`): a local activity may run
twice, so a repeated start or a repeated batch of events must change nothing."""

import uuid

import yaml
from temporalio.testing import ActivityEnvironment, WorkflowEnvironment

from journeys.activities.runs import LINEAGE, pass_events, start_runs
from journeys.config.settings import Settings
from journeys.vocabulary.ids import journey_workflow_id
from journeys.vocabulary.journey_spec import JourneySpec
from journeys.vocabulary.journey_types import JourneyInput, RunEvents, RunStart
from journeys.worker.main import build_worker
from tests.helpers.events import event
from tests.helpers.journeys import finished

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
