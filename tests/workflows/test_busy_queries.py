"""A customer queried while it is busy writes a history that replays.

Operators query customers at any moment (`journeys inspect`, the console, the Temporal UI's
own metadata query). With the store work in local activities, a query answered while one ran
could leave the activity's marker in one workflow task and its result in the next (the SDK's
core completes the task to answer the query); the run then went on with events a replay did
not have yet, and the history no longer replayed: after a worker restart the customer would
have been stuck. The chaos run found it (docs/versioning.md). A run started since the patch
`no_local_activities` does that work in regular activities."""

import asyncio
import dataclasses
import time
import uuid

import pytest
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Replayer

from journeys.activities.profiles import ProfileActivities
from journeys.client import customer_state, deliver
from journeys.config.settings import Settings
from journeys.config.temporal import DATA_CONVERTER
from journeys.vocabulary.customer_types import CustomerChangesInput
from journeys.vocabulary.ids import customer_workflow_id
from journeys.worker.main import WORKFLOWS, build_worker
from journeys.workflows.customer import CustomerWorkflow
from tests.helpers.events import identify, track
from tests.helpers.temporal import wait_for

EVENTS = 30
# back and forth between stages: most drains change what the customer's search attributes say
NAMES = ["Product Viewed", "Checkout Started", "Page Viewed"]


@pytest.mark.slow
async def test_a_customer_queried_while_busy_writes_a_history_that_replays(
    dev_env: WorkflowEnvironment,
    sqlite_url: str,
    task_queue: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # A busy worker answers a query late: here each answer takes 0.1 s, so the customer's store
    # work of the same task ends while one is being answered.
    definition = getattr(CustomerWorkflow, "__temporal_workflow_definition")
    answer = definition.queries["state"].fn

    def slow_answer(self: CustomerWorkflow) -> object:
        begun = time.monotonic()
        while time.monotonic() - begun < 0.1:
            pass
        return answer(self)

    # and the store takes a moment (a busy database's), so the window is wide
    store = ProfileActivities.apply_customer_changes

    async def slow_store(self: ProfileActivities, changes: CustomerChangesInput) -> object:
        await asyncio.sleep(0.05)
        return await store(self, changes)

    setattr(slow_store, "__temporal_activity_definition",
            getattr(store, "__temporal_activity_definition"))  # fmt: skip
    monkeypatch.setattr(ProfileActivities, "apply_customer_changes", slow_store)
    monkeypatch.setitem(
        definition.queries,
        "state",
        dataclasses.replace(definition.queries["state"], fn=slow_answer),
    )
    client, cid = dev_env.client, f"busy-{uuid.uuid4()}"
    # unsandboxed, so the worker answers with the slow handler above
    settings = Settings(database_url=sqlite_url, task_queue=task_queue, workflow_sandbox=False)
    queries = 0

    async def query_all_along() -> None:
        nonlocal queries
        while True:
            try:
                await customer_state(client, cid)
                queries += 1
            except Exception:  # noqa: BLE001  (not started yet)
                await asyncio.sleep(0.05)

    async with build_worker(client, settings):
        asker = asyncio.create_task(query_all_along())
        try:
            await deliver(client, task_queue=task_queue, customer_id=cid,
                          events=[identify(email="busy@example.test")])  # fmt: skip
            await asyncio.sleep(1.0)
            for i in range(EVENTS):  # each with a newer catalog: each drain loads it first
                await deliver(client, task_queue=task_queue, customer_id=cid,
                              events=[track(NAMES[i % len(NAMES)])],
                              catalog_version=i + 1)  # fmt: skip
                await asyncio.sleep(0.1)
            await wait_for(client, cid, lambda s: s.events_total == EVENTS + 1, seconds=60)
        finally:
            asker.cancel()
    assert queries >= EVENTS // 2  # it was asked all along

    history = await client.get_workflow_handle(customer_workflow_id(cid)).fetch_history()
    replayed = await Replayer(
        workflows=list(WORKFLOWS), data_converter=DATA_CONVERTER
    ).replay_workflow(history, raise_on_replay_failure=False)
    assert replayed.replay_failure is None, replayed.replay_failure
