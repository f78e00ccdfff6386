"""Operators steering runs (time-skipping server): pause one run (it waits in place, nothing is
sent) and resume it; pause a whole journey (new entries wait too, and they go on by themselves
once it is resumed); exit a customer from a journey with a reason; the same for a run its
customer holds in its first wait."""

import uuid
from datetime import timedelta

import pytest
from temporalio.client import Client
from temporalio.service import RPCError
from temporalio.testing import WorkflowEnvironment

from journeys.config.settings import Settings
from journeys.store.catalog import catalog_version
from journeys.store.db import session_scope
from journeys.store.journey_runs import customer_messages, journey_events
from journeys.store.journeys import set_paused
from journeys.vocabulary.ids import customer_workflow_id, journey_workflow_id
from journeys.vocabulary.journey_types import JourneyExit, OperatorCommand
from journeys.worker.main import build_worker
from tests.helpers.events import event
from tests.helpers.journeys import finished, progress, publish, send, until_progress
from tests.helpers.temporal import wait_for

NUDGE = """
name: nudge
trigger: {event: Product Viewed}
steps:
  - {id: mark, kind: update_profile, traits: {nudged: true}}
  - {id: settle, kind: wait, duration: 1h}
  - {id: push, kind: send, channel: push, template: usage_nudge}
  - {id: linger, kind: wait, duration: 1d}
"""


def sent(settings: Settings, cid: str) -> list[str]:
    with session_scope(settings.database_url) as session:
        return [m.step for m in customer_messages(session, customer_ids=[cid])]


async def enter(client: Client, settings: Settings, catalog: int) -> str:
    cid = f"c-{uuid.uuid4()}"
    await send(client, settings, cid, event("Product Viewed"), catalog=catalog)
    await wait_for(client, cid, lambda s: "nudge" in s.journeys.active)
    await until_progress(client, journey_workflow_id("nudge", cid, 1), lambda p: True)  # started
    return cid


@pytest.mark.parametrize(
    "journey_too",
    [False, True],
    ids=["operator", "operator-and-journey-resumed"],
)
async def test_a_paused_run_waits_in_place_and_resumes_where_it_stood(
    skipping_env: WorkflowEnvironment,
    settings: Settings,
    journey_too: bool,
) -> None:
    """With `journey_too` the whole journey is paused and resumed meanwhile: the pauses are
    independent, so the operator's still holds the run until its own resume."""
    client, catalog = skipping_env.client, publish(settings, NUDGE)
    async with build_worker(client, settings):
        cid = await enter(client, settings, catalog)
        run = client.get_workflow_handle(journey_workflow_id("nudge", cid, 1))
        # a pause holds the run at its next step
        await until_progress(client, run.id, lambda p: p.current_step == "settle")
        await run.signal("pause", OperatorCommand(reason="complaint under review"))
        if journey_too:
            await run.signal("pause", OperatorCommand(reason="offer review", journey_wide=True))
            await run.signal("resume", OperatorCommand(journey_wide=True))
        # Not a whole number of pause checks (every 10 minutes from the pause): one would fire
        # a few milliseconds after the sleep, just as the resume below arrives, and the legacy
        # test server fails a task that cancels a timer which fires meanwhile.
        await skipping_env.sleep(timedelta(hours=3, minutes=5))
        held = await progress(client, run.id)
        assert (held.current_step, held.paused) == ("push", "complaint under review")
        assert sent(settings, cid) == []  # nobody messaged
        await run.signal("resume", OperatorCommand())
        done = await finished(skipping_env, run.id)
    assert done.outcome == "completed" and done.paused is None
    assert sent(settings, cid) == ["push"]


async def test_a_paused_journey_holds_new_entries_until_it_is_resumed(
    skipping_env: WorkflowEnvironment,
    settings: Settings,
) -> None:
    client, _ = skipping_env.client, publish(settings, NUDGE)
    with session_scope(settings.database_url) as session:
        set_paused(session, name="nudge", reason="offer under review")
        catalog = catalog_version(session)
    async with build_worker(client, settings):
        cid = await enter(client, settings, catalog)
        run_id = journey_workflow_id("nudge", cid, 1)
        await skipping_env.sleep(timedelta(hours=2))
        held = await progress(client, run_id)
        assert (held.current_step, held.paused) == ("mark", "journey paused")
        with session_scope(settings.database_url) as session:
            set_paused(session, name="nudge", reason=None)  # no signal: the run finds out
        done = await finished(skipping_env, run_id)
    assert done.outcome == "completed" and sent(settings, cid) == ["push"]


async def test_an_operator_exits_a_customer_from_a_journey_with_a_reason(
    skipping_env: WorkflowEnvironment,
    settings: Settings,
) -> None:
    client, catalog = skipping_env.client, publish(settings, NUDGE)
    async with build_worker(client, settings):
        cid = await enter(client, settings, catalog)
        run = client.get_workflow_handle(journey_workflow_id("nudge", cid, 1))
        await run.signal("exit", OperatorCommand(reason="asked us to stop"))
        done = await finished(skipping_env, run.id)
        state = await wait_for(client, cid, lambda s: not s.journeys.active)
    assert done.outcome == "exited" and sent(settings, cid) == []
    assert done.steps[-1].result == "interrupted: exited" and not state.journeys.active
    with session_scope(settings.database_url) as session:
        last = journey_events(session, workflow_id=run.id)[-1]
    assert (last.kind, last.detail) == ("exited", "exited by an operator: asked us to stop")


HELD = """
name: later
trigger: {event: Product Viewed}
steps:
  - {id: settle, kind: wait, duration: 1h}
  - {id: push, kind: send, channel: push, template: usage_nudge}
"""


async def test_exit_journey_on_the_customer_ends_a_held_run_and_a_started_one(
    skipping_env: WorkflowEnvironment,
    settings: Settings,
) -> None:
    """A run whose first step is a wait is held by its customer (no workflow yet): the
    customer's `exit_journey` ends it there; a started run is told to exit."""
    client = skipping_env.client
    publish(settings, NUDGE)
    catalog = publish(settings, HELD)
    async with build_worker(client, settings):
        cid = f"c-{uuid.uuid4()}"
        await send(client, settings, cid, event("Product Viewed"), catalog=catalog)
        await wait_for(client, cid, lambda s: {"nudge", "later"} <= set(s.journeys.active))
        customer = client.get_workflow_handle(customer_workflow_id(cid))
        for journey in ("later", "nudge"):
            await customer.signal("exit_journey", JourneyExit(journey=journey, reason="stop"))
        done = await finished(skipping_env, journey_workflow_id("nudge", cid, 1))
        state = await wait_for(client, cid, lambda s: not s.journeys.active)
        await skipping_env.sleep(timedelta(hours=2))  # past the held wait: nothing starts
        with pytest.raises(RPCError):
            await client.get_workflow_handle(journey_workflow_id("later", cid, 1)).describe()
    assert done.outcome == "exited" and sent(settings, cid) == []
    assert set(state.journeys.last_ended) == {"nudge", "later"}
    with session_scope(settings.database_url) as session:
        records = journey_events(session, workflow_id=journey_workflow_id("later", cid, 1))
    assert [(r.kind, r.step, r.detail) for r in records] == [
        ("entered", None, "v1"),
        ("step", "settle", "interrupted: exited"),
        ("exited", None, "exited by an operator: stop"),
    ]


async def test_a_held_run_starts_paused_when_its_journey_was_paused_meanwhile(
    skipping_env: WorkflowEnvironment,
    settings: Settings,
) -> None:
    """No broadcast reaches a held run; the customer's store activity reads the pause as it
    starts the run."""
    client, catalog = skipping_env.client, publish(settings, HELD)
    async with build_worker(client, settings):
        cid = f"c-{uuid.uuid4()}"
        await send(client, settings, cid, event("Product Viewed"), catalog=catalog)
        await wait_for(client, cid, lambda s: "later" in s.journeys.held)
        with session_scope(settings.database_url) as session:
            set_paused(session, name="later", reason="offer under review")
        await skipping_env.sleep(timedelta(hours=2))
        await wait_for(client, cid, lambda s: not s.journeys.held)
        run_id = journey_workflow_id("later", cid, 1)
        held = await progress(client, run_id)
        assert (held.current_step, held.paused) == ("push", "journey paused")
        assert sent(settings, cid) == []
        with session_scope(settings.database_url) as session:
            set_paused(session, name="later", reason=None)
        done = await finished(skipping_env, run_id)
    assert done.outcome == "completed" and sent(settings, cid) == ["push"]
    assert [s.step for s in done.steps] == ["settle", "push"]
