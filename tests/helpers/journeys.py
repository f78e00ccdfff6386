"""Journeys in tests: publish specs (the shipped ones or a YAML text), send a customer's
events as the API would, and follow a run on the time-skipping server until it ends."""

import asyncio
from datetime import timedelta
from typing import Any

import yaml
from temporalio.api.enums.v1 import EventType
from temporalio.client import Client, WorkflowExecutionStatus, WorkflowHandle
from temporalio.service import RPCError
from temporalio.testing import WorkflowEnvironment

from journeys.cli.segments import SHIPPED as SHIPPED_SEGMENTS
from journeys.cli.segments import load_definition_files
from journeys.cli.specs import load_spec_files
from journeys.client import deliver
from journeys.config.settings import Settings
from journeys.config.temporal import DATA_CONVERTER
from journeys.data import JOURNEYS
from journeys.store.catalog import catalog_version
from journeys.store.db import session_scope
from journeys.store.journeys import publish_spec
from journeys.store.segments import save_segment
from journeys.vocabulary.events import CustomerEvent, EventBatch
from journeys.vocabulary.journey_spec import JourneySpec
from journeys.vocabulary.journey_types import JOURNEY_EVENTS_SIGNAL, JourneyProgress
from journeys.workflows.journey import JourneyWorkflow

SHIPPED = JOURNEYS


def publish(settings: Settings, text: str) -> int:
    """Publish the journey spec in YAML `text`; returns the catalog version."""
    with session_scope(settings.database_url) as session:
        publish_spec(session, spec=JourneySpec.model_validate(yaml.safe_load(text)))
    with session_scope(settings.database_url) as session:
        return catalog_version(session)


def publish_shipped(database_url: str) -> int:
    """The shipped segments, then the shipped journeys (which name them), as `journeys up`
    publishes them; returns the catalog version."""
    definitions, errors = load_definition_files([SHIPPED_SEGMENTS])
    assert not errors
    specs = load_spec_files([SHIPPED])
    with session_scope(database_url) as session:
        for definition in definitions:
            save_segment(session, definition=definition)
        for spec in specs:
            publish_spec(session, spec=spec)
        return catalog_version(session)


async def send(
    client: Client, settings: Settings, cid: str, *events: CustomerEvent, catalog: int
) -> None:
    await deliver(
        client,
        task_queue=settings.task_queue,
        customer_id=cid,
        events=list(events),
        catalog_version=catalog,
    )


async def finished(env: WorkflowEnvironment, workflow_id: str) -> JourneyProgress:
    """Skip ahead a day at a time until the run has ended (a handle fetched by id does not skip
    time by itself), then read how it ended."""
    handle = env.client.get_workflow_handle(workflow_id)
    for _ in range(60):
        try:
            if (await handle.describe()).status != WorkflowExecutionStatus.RUNNING:
                break
            await _taken(handle)
        except RPCError:  # not started yet
            pass
        try:
            await asyncio.wait_for(env.sleep(timedelta(days=1)), timeout=60)
        except TimeoutError:
            tail = await _tail(handle)
            raise AssertionError(f"time stopped; {workflow_id} ends in {tail}") from None
    return JourneyProgress.model_validate(await handle.result())


PENDING_TASK = (
    EventType.EVENT_TYPE_WORKFLOW_TASK_SCHEDULED,
    EventType.EVENT_TYPE_WORKFLOW_TASK_STARTED,
)


async def _taken(handle: WorkflowHandle[Any, Any]) -> None:
    """Until the run has taken what was just sent to it (its history does not end in a pending
    workflow task). Time skipped while a task that cancels a timer is under way fires that
    timer, and the legacy test server then fails the task ("invalid history builder state for
    action") and never moves time again. (The same happens when a timer falls due in real
    time just as a signal's task runs: see the pause test in test_operator.py.)"""
    for _ in range(50):
        events = (await handle.fetch_history()).events
        if not events or events[-1].event_type not in PENDING_TASK:
            return
        await asyncio.sleep(0.1)


async def _tail(handle: WorkflowHandle[Any, Any]) -> list[str]:
    events = (await handle.fetch_history()).events[-8:]
    return [
        f"{e.event_id} {e.event_time.ToJsonString()} {EventType.Name(e.event_type)}" for e in events
    ]


async def progress(client: Client, workflow_id: str) -> JourneyProgress:
    return await client.get_workflow_handle(workflow_id).query(JourneyWorkflow.get_progress)


async def until_progress(
    client: Client, workflow_id: str, predicate: Any, seconds: float = 15
) -> JourneyProgress:
    """Query the run until its progress satisfies `predicate`: its customer's store activity
    starts it a moment after the customer's state names it, and queries do not move the test
    server's clock."""
    found: JourneyProgress | None = None
    deadline = asyncio.get_running_loop().time() + seconds
    while asyncio.get_running_loop().time() < deadline:
        try:
            found = await progress(client, workflow_id)
            if predicate(found):
                return found
        except RPCError:  # not started yet
            pass
        await asyncio.sleep(0.05)
    raise AssertionError(f"{workflow_id}: progress never matched; last: {found}")


async def events_passed(client: Client, run_id: str) -> list[str]:
    """The keys of the events the customer passed the run, in its history."""
    history = await client.get_workflow_handle(run_id).fetch_history()
    return [
        e.key
        for item in history.events
        if item.HasField("workflow_execution_signaled_event_attributes")
        and item.workflow_execution_signaled_event_attributes.signal_name == JOURNEY_EVENTS_SIGNAL
        for batch in DATA_CONVERTER.payload_converter.from_payloads(
            item.workflow_execution_signaled_event_attributes.input.payloads, [EventBatch]
        )
        for e in batch.events
    ]


async def activities_asked(client: Client, workflow_id: str) -> list[str]:
    """The activity types a workflow scheduled, in order, from its history."""
    history = await client.get_workflow_handle(workflow_id).fetch_history()
    return [
        e.activity_task_scheduled_event_attributes.activity_type.name
        for e in history.events
        if e.HasField("activity_task_scheduled_event_attributes")
    ]
