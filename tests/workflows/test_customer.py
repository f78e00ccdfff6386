"""CustomerWorkflow: stages, inactivity, dedup, alias (time-skipping server); CAN (dev server)."""

import asyncio
import json
import uuid
from datetime import datetime, timedelta
from typing import Any

import pytest
from sqlmodel import select
from temporalio.client import WorkflowHandle
from temporalio.testing import WorkflowEnvironment

from journeys.client import deliver
from journeys.config.settings import Settings
from journeys.store.db import session_scope
from journeys.store.models import Customer, Order, StageEntry
from journeys.vocabulary import search_attributes as sa
from journeys.vocabulary.customer_types import (
    EVENT_NAMES_KEPT,
    OTHER_EVENTS,
    STAGE_HISTORY_KEPT,
    CustomerInput,
)
from journeys.vocabulary.events import CustomerEvent, EventBatch, Stage
from journeys.vocabulary.ids import customer_workflow_id
from journeys.worker.main import build_worker
from journeys.workflows.customer import CustomerWorkflow
from tests.helpers.events import AT, track
from tests.helpers.temporal import state_of, wait_for, wait_for_attribute

NOW = AT  # the events' instant (now: inactivity counts in event time)


@pytest.fixture
def settings(sqlite_url: str, task_queue: str) -> Settings:
    return Settings(database_url=sqlite_url, task_queue=task_queue, inactivity_days=30)


async def test_stages_follow_the_buy_own_advocate_path_and_back(
    skipping_env: WorkflowEnvironment, settings: Settings
) -> None:
    client = skipping_env.client
    cid = f"c-{uuid.uuid4()}"
    async with build_worker(client, settings):
        steps = [
            (track("Product Viewed"), Stage.CONSIDERATION),
            (track("Checkout Started"), Stage.DECISION),
            (track("Product Viewed"), Stage.CONSIDERATION),  # back to browsing
            (track("Checkout Started"), Stage.DECISION),
            (track("Order Completed", order_id="o1", total=30.0), Stage.ONBOARDING),
            (track("Product Viewed"), Stage.ONBOARDING),  # an owner browsing stays an owner
            (track("Product Reviewed", rating=2), Stage.ONBOARDING),  # a poor review is no love
            (track("Order Completed", order_id="o2", total=12.5), Stage.LOYALTY),
            (track("NPS Submitted", score=10), Stage.ADVOCACY),
            (track("NPS Submitted", score=3), Stage.LOYALTY),
        ]
        for n, (event, expected) in enumerate(steps, start=1):
            await deliver(client, task_queue=settings.task_queue, customer_id=cid, events=[event])
            state = await wait_for(client, cid, lambda s, n=n: s.events_total == n)
            assert state.stage == expected, f"after {event.event}: {state.stage}"

        assert [c.stage for c in state.stage_history] == [
            Stage.AWARENESS,
            Stage.CONSIDERATION,
            Stage.DECISION,
            Stage.CONSIDERATION,
            Stage.DECISION,
            Stage.ONBOARDING,
            Stage.LOYALTY,
            Stage.ADVOCACY,
            Stage.LOYALTY,
        ]
        assert state.event_counts["Order Completed"] == 2
        await wait_for_attribute(client, customer_workflow_id(cid), sa.LIFECYCLE_STAGE, "loyalty")
        handle = client.get_workflow_handle(customer_workflow_id(cid))
        desc = await handle.describe()
        assert desc.typed_search_attributes.get(sa.CUSTOMER_ID) == cid
        assert await patch_markers(handle) == []  # started by `deliver`: its patches unasked
    with session_scope(settings.database_url) as session:
        orders = sorted(
            o.order_id for o in session.exec(select(Order).where(Order.customer_id == cid))
        )
    assert orders == ["o1", "o2"]


async def test_inactivity_over_weeks_marks_at_risk_and_a_return_brings_them_back(
    skipping_env: WorkflowEnvironment, settings: Settings
) -> None:
    client = skipping_env.client
    cid = f"c-{uuid.uuid4()}"
    async with build_worker(client, settings):
        await deliver(
            client,
            task_queue=settings.task_queue,
            customer_id=cid,
            events=[track("Order Completed", order_id=str(uuid.uuid4()))],
        )
        await wait_for(client, cid, lambda s: s.stage == Stage.ONBOARDING)
        await skipping_env.sleep(timedelta(days=29))
        assert not (await state_of(client, cid)).at_risk
        await skipping_env.sleep(timedelta(days=2))
        state = await state_of(client, cid)
        assert state.at_risk
        await wait_for_attribute(client, customer_workflow_id(cid), sa.AT_RISK, True)
        # an old event arriving now (an import, a backlog) is not a return: inactivity counts
        # in event time
        await deliver(client, task_queue=settings.task_queue, customer_id=cid,
                      events=[track("Product Viewed")])  # fmt: skip
        state = await wait_for(client, cid, lambda s: s.events_total == 2)
        assert state.at_risk
        # a lapsed customer who returns to browsing moves back to consideration
        back = track("Product Viewed").model_copy(
            update={"timestamp": await skipping_env.get_current_time()}
        )
        await deliver(client, task_queue=settings.task_queue, customer_id=cid, events=[back])
        state = await wait_for(client, cid, lambda s: s.events_total == 3)
        assert state.stage == Stage.CONSIDERATION and not state.at_risk
        # and the timer is armed again
        await skipping_env.sleep(timedelta(days=31))
        assert (await state_of(client, cid)).at_risk


async def test_delivery_reports_do_not_bring_an_at_risk_customer_back_but_an_open_does(
    skipping_env: WorkflowEnvironment, settings: Settings
) -> None:
    client = skipping_env.client
    cid = f"c-{uuid.uuid4()}"

    async def send(event: CustomerEvent) -> None:
        await deliver(client, task_queue=settings.task_queue, customer_id=cid, events=[event])

    async with build_worker(client, settings):
        await send(track("Product Viewed"))
        await wait_for(client, cid, lambda s: s.events_total == 1)
        await skipping_env.sleep(timedelta(days=31))
        assert (await state_of(client, cid)).at_risk
        await send(track("Email Delivered", message_id="m1"))
        state = await wait_for(client, cid, lambda s: s.events_total == 2)
        assert state.at_risk and state.event_counts["Email Delivered"] == 1
        now = await skipping_env.get_current_time()
        await send(track("Email Opened", message_id="m1").model_copy(update={"timestamp": now}))
        state = await wait_for(client, cid, lambda s: s.events_total == 3)
        assert not state.at_risk


async def test_duplicate_message_ids_are_applied_once(
    skipping_env: WorkflowEnvironment, settings: Settings
) -> None:
    client = skipping_env.client
    cid = f"c-{uuid.uuid4()}"
    order = track("Order Completed", order_id="o-dup")
    async with build_worker(client, settings):
        await deliver(
            client, task_queue=settings.task_queue, customer_id=cid, events=[order, order]
        )
        await deliver(
            client,
            task_queue=settings.task_queue,
            customer_id=cid,
            events=[order, track("Product Viewed")],
        )
        state = await wait_for(client, cid, lambda s: s.events_total >= 2)
        assert state.event_counts == {"Order Completed": 1, "Product Viewed": 1}
        assert state.stage == Stage.ONBOARDING  # a duplicate order would have made it loyalty


async def test_alias_merges_anonymous_history_into_the_identified_customer(
    skipping_env: WorkflowEnvironment, settings: Settings
) -> None:
    client = skipping_env.client
    anon, user = f"anon-{uuid.uuid4()}", f"u-{uuid.uuid4()}"
    async with build_worker(client, settings):
        await deliver(
            client,
            task_queue=settings.task_queue,
            customer_id=anon,
            events=[track("Product Viewed"), track("Checkout Started")],
        )
        await wait_for(client, anon, lambda s: s.stage == Stage.DECISION)
        identify = CustomerEvent(
            message_id=str(uuid.uuid4()),
            type="identify",
            timestamp=NOW + timedelta(minutes=1),
            traits={"plan": "pro"},
            merge_from=anon,
        )
        await deliver(client, task_queue=settings.task_queue, customer_id=user, events=[identify])
        state = await wait_for(client, user, lambda s: anon in s.merged_from)
        assert state.stage == Stage.DECISION
        assert state.events_total == 3
        assert state.event_counts["Checkout Started"] == 1
        source = await wait_for(client, anon, lambda s: s.merged_into == user)
        assert source.merged_into == user
        # counted once, as `user`
        await wait_for_attribute(client, customer_workflow_id(anon), sa.LIFECYCLE_STAGE, None)
        assert [c.cause for c in state.stage_history].count("first_seen") == 1
        # a straggler sent to the anonymous customer reaches the identified one
        await deliver(
            client,
            task_queue=settings.task_queue,
            customer_id=anon,
            events=[track("Order Completed", order_id="o-late")],
        )
        state = await wait_for(client, user, lambda s: s.stage == Stage.ONBOARDING)
        assert state.events_total == 4
        # the merged workflow ends after its linger period
        await skipping_env.sleep(timedelta(days=2))
        result = await client.get_workflow_handle(customer_workflow_id(anon)).result()
        assert (
            result["merged_into"] == user
            if isinstance(result, dict)
            else result.merged_into == user
        )
    with session_scope(settings.database_url) as session:
        profile = session.get(Customer, user)
        assert profile is not None and profile.traits == {"plan": "pro"}


@pytest.mark.slow
async def test_continue_as_new_carries_state_dedup_and_unapplied_events(
    dev_env: WorkflowEnvironment, settings: Settings
) -> None:
    """On the local dev server: the legacy time-skipping server mishandles signals that arrive
    while a continue-as-new completes (seen here: the old run kept them, queries timed out)."""
    client = dev_env.client
    cid = f"c-{uuid.uuid4()}"
    first = track("Order Completed", order_id="o-can")
    async with build_worker(client, settings):
        started = await client.start_workflow(  # as before `paths`: it asks its patches
            CustomerWorkflow.run,
            CustomerInput(customer_id=cid, continue_as_new_after=40),
            id=customer_workflow_id(cid),
            task_queue=settings.task_queue,
        )
        handle = client.get_workflow_handle(customer_workflow_id(cid))
        await handle.signal("events", EventBatch(events=[first]))
        for i in range(60):
            await handle.signal("events", EventBatch(events=[track("Product Viewed", i=i)]))
        await wait_for(client, cid, lambda s: s.generation >= 1 and s.events_total == 61)
        await handle.signal(
            "events", EventBatch(events=[first])
        )  # a retry from before the hand-over
        for i in range(60):
            await handle.signal("events", EventBatch(events=[track("Product Viewed", i=i)]))
        state = await wait_for(client, cid, lambda s: s.events_total >= 121)
        assert state.events_total == 121
        assert state.event_counts == {"Order Completed": 1, "Product Viewed": 120}
        assert state.stage == Stage.ONBOARDING
        first_run = client.get_workflow_handle(started.id, run_id=started.result_run_id)
        # the first run recorded its patch; the runs this build continued as new take it unasked
        assert await patch_markers(first_run) == ["no_local_activities"]
        assert await patch_markers(handle) == []


async def patch_markers(handle: WorkflowHandle[Any, Any]) -> list[str]:
    """The patches a run's history recorded."""
    history = await handle.fetch_history()
    return [
        json.loads(e.marker_recorded_event_attributes.details["patch-data"].payloads[0].data)["id"]
        for e in history.events
        if e.HasField("marker_recorded_event_attributes")
    ]


async def test_merge_from_a_customer_that_never_existed_is_harmless(
    skipping_env: WorkflowEnvironment, settings: Settings
) -> None:
    client = skipping_env.client
    user = f"u-{uuid.uuid4()}"
    identify = CustomerEvent(
        message_id=str(uuid.uuid4()), type="identify", timestamp=NOW, merge_from="anon-nobody"
    )
    async with build_worker(client, settings):
        await deliver(client, task_queue=settings.task_queue, customer_id=user, events=[identify])
        await deliver(
            client,
            task_queue=settings.task_queue,
            customer_id=user,
            events=[track("Product Viewed")],
        )
        state = await wait_for(client, user, lambda s: s.events_total == 2)
    assert state.merged_from == [] and state.merge_requested == ["anon-nobody"]
    assert state.stage == Stage.CONSIDERATION


async def test_a_merge_keeps_events_the_anonymous_customer_had_not_applied_yet(
    skipping_env: WorkflowEnvironment, settings: Settings
) -> None:
    """Events still queued in the anonymous customer when the merge request arrives (a worker
    backlog) travel with the merge and are applied once by the identified customer."""
    from journeys.vocabulary.customer_types import MergeIntoInput

    client = skipping_env.client
    anon, user = f"anon-{uuid.uuid4()}", f"u-{uuid.uuid4()}"
    # no worker yet: everything below waits in the anonymous customer's history
    await deliver(
        client, task_queue=settings.task_queue, customer_id=anon,
        events=[track("Product Viewed"), track("Checkout Started")],
    )  # fmt: skip
    await client.get_workflow_handle(customer_workflow_id(anon)).signal(
        "merge_into", MergeIntoInput(target_customer_id=user)
    )
    await client.start_workflow(
        CustomerWorkflow.run, CustomerInput(customer_id=user), id=customer_workflow_id(user),
        task_queue=settings.task_queue,
    )  # fmt: skip
    async with build_worker(client, settings):
        state = await wait_for(client, user, lambda s: s.events_total == 2)
    assert state.stage == Stage.DECISION and anon in state.merged_from


async def test_stage_entries_reach_the_store_for_the_funnel(
    skipping_env: WorkflowEnvironment, settings: Settings
) -> None:
    client = skipping_env.client
    cid = f"c-{uuid.uuid4()}"
    async with build_worker(client, settings):
        for event in [track("Product Viewed"), track("Order Completed", order_id=str(uuid.uuid4())),
                      track("NPS Submitted", score=10)]:  # fmt: skip
            await deliver(client, task_queue=settings.task_queue, customer_id=cid, events=[event])
        state = await wait_for(client, cid, lambda s: s.events_total == 3)
    with session_scope(settings.database_url) as session:
        rows = session.exec(
            select(StageEntry).where(StageEntry.customer_id == cid).order_by(StageEntry.id)
        ).all()
        customer = session.get(Customer, cid)
    stages = [change.stage.value for change in state.stage_history]
    assert stages[0] == "awareness" and len(stages) >= 3  # first seen, then moves
    assert [(r.previous, r.stage) for r in rows] == list(zip([None, *stages], stages, strict=False))
    assert customer is not None and customer.stage == state.stage.value


async def test_a_segment_change_older_than_the_last_one_applied_is_dropped(
    skipping_env: WorkflowEnvironment, settings: Settings
) -> None:
    """The batch refresh and the customer's own evaluation signal independently: an entry
    stamped before an exit that was already applied must not make the customer 'in' again."""
    client, cid = skipping_env.client, f"c-{uuid.uuid4()}"

    def change(name: str, at: datetime, segment: str = "churn_risk") -> CustomerEvent:
        return CustomerEvent(message_id=str(uuid.uuid4()), type="track", event=name,
                             timestamp=at, properties={"segment": segment})  # fmt: skip

    exited, entered = NOW + timedelta(minutes=2), NOW
    async with build_worker(client, settings):
        await deliver(client, task_queue=settings.task_queue, customer_id=cid,
                      events=[change("Segment Exited", exited)])  # fmt: skip
        await wait_for(client, cid, lambda s: s.events_total == 1)
        await deliver(client, task_queue=settings.task_queue, customer_id=cid, events=[
            change("Segment Entered", entered),  # older than the exit: dropped
            change("Segment Entered", entered, segment="champions"),  # another segment: kept
            track("Product Viewed"),
        ])  # fmt: skip
        state = await wait_for(client, cid, lambda s: s.event_counts.get("Product Viewed") == 1)
    assert state.event_counts == {"Segment Exited": 1, "Segment Entered": 1, "Product Viewed": 1}
    assert state.segment_changed_at == {"churn_risk": exited, "champions": entered}


@pytest.mark.slow
async def test_a_flooded_customer_hands_over_again_and_again_applying_each_event_once(
    dev_env: WorkflowEnvironment, settings: Settings
) -> None:
    """Events arrive faster than the customer applies them, without a pause: it still
    continues as new whenever its history is long, carrying the events it has not applied.

    The flood comes in waves of 20 signals at once, 100 between two looks at the customer's
    state: a query is answered between workflow tasks, so the flood keeps pace with the
    worker however slow the machine (all at once, a slow worker finds every signal already in
    its first run's history, and no code can hand over inside that)."""
    client = dev_env.client
    cid = f"c-{uuid.uuid4()}"
    sent: list[CustomerEvent] = []
    async with build_worker(client, settings):
        handle = await client.start_workflow(
            CustomerWorkflow.run,
            CustomerInput(customer_id=cid, continue_as_new_after=150),
            id=customer_workflow_id(cid),
            task_queue=settings.task_queue,
        )

        async def wave() -> None:
            new = [track("Product Viewed", i=len(sent) + k) for k in range(20)]
            retry = sent[-7:-6]  # a client's retry of an event sent a moment ago
            sent.extend(new)
            await asyncio.gather(
                *(handle.signal("events", EventBatch(events=[event, *(retry if k == 0 else [])]))
                  for k, event in enumerate(new))
            )  # fmt: skip

        handed_over = 0
        while handed_over < 3 and len(sent) < 3000:
            for _ in range(5):
                await wave()
            handed_over = (await state_of(client, cid)).generation
        state = await wait_for(client, cid, lambda s: s.events_total >= len(sent), seconds=90)
        await asyncio.sleep(1)  # a doubled event would be applied by now
        state = await state_of(client, cid)
        started = (await handle.fetch_history()).events[0]
        carried = json.loads(
            started.workflow_execution_started_event_attributes.input.payloads[0].data
        )
    window = carried["state"]["recent_message_ids"]  # hashed: ~40 KB at most, whatever the ids
    assert window and all(len(key) == 16 for key in window)
    assert state.events_total == len(sent)
    assert state.event_counts == {"Product Viewed": len(sent)}
    assert state.generation >= 3, f"handed over {state.generation} times in {len(sent)} events"


async def test_a_busy_customer_s_state_stays_small(
    skipping_env: WorkflowEnvironment, settings: Settings
) -> None:
    """Hundreds of stage moves and event names a client made up: the state keeps the latest
    moves (the store has them all), counts every entry per stage, and counts names past the
    cap together."""
    client, cid = skipping_env.client, f"c-{uuid.uuid4()}"
    moves = [
        track("Product Viewed" if i % 2 == 0 else "Checkout Started").model_copy(
            update={"timestamp": NOW + timedelta(minutes=i)}
        )
        for i in range(120)
    ]
    made_up = [track(f"Clicked Widget {i:03d}") for i in range(250)]
    sent = moves + made_up
    async with build_worker(client, settings):
        for start in range(0, len(sent), 50):
            batch = sent[start : start + 50]
            await deliver(client, task_queue=settings.task_queue, customer_id=cid, events=batch)
        state = await wait_for(client, cid, lambda s: s.events_total == len(sent))
        state = await wait_for(client, cid, lambda s: s.stages_recorded == len(s.stage_history))
    with session_scope(settings.database_url) as session:
        stored = session.exec(select(StageEntry).where(StageEntry.customer_id == cid)).all()
    assert len(stored) == 121  # first seen, then every move
    assert len(state.stage_history) == STAGE_HISTORY_KEPT
    assert state.stage_history[-1].at == moves[-1].timestamp
    assert state.stage_entries == {
        Stage.AWARENESS: 1, Stage.CONSIDERATION: 60, Stage.DECISION: 60
    }  # fmt: skip
    assert len(state.event_counts) == EVENT_NAMES_KEPT + 1
    assert state.event_counts[OTHER_EVENTS] == 250 - (EVENT_NAMES_KEPT - 2)
    assert sum(state.event_counts.values()) == len(sent)
    assert len(state.model_dump_json()) < 64_000
