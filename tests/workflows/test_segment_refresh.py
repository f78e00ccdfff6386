"""The batch refresh end to end on the dev server: SegmentRefreshWorkflow runs
`refresh_segments`, which signals each changed customer's workflow with a `Segment Entered` /
`Segment Exited` event; a retry delivers nothing twice. And the schedule is made once."""

import uuid
from datetime import UTC, datetime, timedelta

import pytest
from temporalio.testing import ActivityEnvironment, WorkflowEnvironment
from temporalio.worker import Worker

from journeys.activities.segments import SegmentActivities
from journeys.cli.schedules import (
    SEGMENT_REFRESH_SCHEDULE,
    ensure_segment_refresh_schedule,
)
from journeys.config.settings import Settings
from journeys.segments.definition import parse_definition
from journeys.store.customers import upsert_traits
from journeys.store.db import session_scope
from journeys.store.segments import save_segment
from journeys.vocabulary.segment_types import SegmentRefreshInput
from journeys.worker.main import build_worker
from journeys.workflows.segment_refresh import SegmentRefreshWorkflow
from tests.helpers.temporal import wait_for

T0 = datetime(2025, 5, 1, 8, 0, tzinfo=UTC)


@pytest.fixture
def settings(sqlite_url: str, task_queue: str) -> Settings:
    return Settings(database_url=sqlite_url, task_queue=task_queue, quiet_hours="")


async def test_refresh_tells_each_changed_customer_once(
    dev_env: WorkflowEnvironment, settings: Settings
) -> None:
    client = dev_env.client
    url = settings.database_url
    with session_scope(url) as session:
        upsert_traits(session, customer_id="gb-1", traits={"country": "GB"})
        upsert_traits(session, customer_id="fr-1", traits={"country": "FR"})
        save_segment(
            session,
            definition=parse_definition(
                {"name": "uk", "condition": {"field": "traits.country", "eq": "GB"}}
            ),
        )
    activities = SegmentActivities(url, task_queue=settings.task_queue)
    refresh_queue = f"{settings.task_queue}-segments"
    async with (
        build_worker(client, settings),
        Worker(
            client,
            task_queue=refresh_queue,
            workflows=[SegmentRefreshWorkflow],
            activities=[activities.refresh_segments],
        ),
    ):
        result = await client.execute_workflow(
            SegmentRefreshWorkflow.run,
            SegmentRefreshInput(as_of=T0),
            id=f"segment-refresh-test-{uuid.uuid4()}",
            task_queue=refresh_queue,
        )
        assert (result.segments, result.entered, result.exited) == (1, 1, 0)
        assert result.customers_notified == 1
        # a customer the refresh starts loads the catalog (segments, journeys) like any other
        state = await wait_for(
            client, "gb-1",
            lambda s: "Segment Entered" in s.event_counts and s.journeys.segments_defined > 0,
        )  # fmt: skip

        # a retried activity (same as_of) delivers the same event again: applied once
        again = await ActivityEnvironment(client=client).run(
            activities.refresh_segments, SegmentRefreshInput(as_of=T0)
        )
        assert again == result

        with session_scope(url) as session:
            upsert_traits(session, customer_id="gb-1", traits={"country": "FR"})
        later = await ActivityEnvironment(client=client).run(
            activities.refresh_segments, SegmentRefreshInput(as_of=T0 + timedelta(hours=1))
        )
        assert (later.entered, later.exited) == (0, 1)
        state = await wait_for(client, "gb-1", lambda s: "Segment Exited" in s.event_counts)
        assert state.event_counts["Segment Entered"] == 1
        assert state.event_counts["Segment Exited"] == 1
        # fr-1 never changed: never signalled
        assert not [w async for w in client.list_workflows("WorkflowId = 'customer-fr-1'", limit=1)]


async def test_the_refresh_schedule_is_created_then_updated(
    dev_env: WorkflowEnvironment, settings: Settings
) -> None:
    client = dev_env.client
    try:
        assert await ensure_segment_refresh_schedule(client, settings) == "created"
        changed = settings.model_copy(update={"segment_refresh_interval": timedelta(minutes=30)})
        assert await ensure_segment_refresh_schedule(client, changed) == "updated"
        described = await client.get_schedule_handle(SEGMENT_REFRESH_SCHEDULE).describe()
        assert [i.every for i in described.schedule.spec.intervals] == [timedelta(minutes=30)]
        action = described.schedule.action
        assert action.workflow == "SegmentRefreshWorkflow"  # type: ignore[attr-defined]
        assert action.task_queue == settings.task_queue  # type: ignore[attr-defined]
    finally:
        await client.get_schedule_handle(SEGMENT_REFRESH_SCHEDULE).delete()
