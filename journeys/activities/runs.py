"""Journey runs reached through the Temporal client from the activities that decide about them:
a customer's store activity starts runs and passes them events, a run's last activity tells its
customer it ended. As commands of the workflows these cost each side history events and a
workflow task apiece; here they cost the workflow one local-activity marker.

Every call is safe to repeat (a local activity is retried whole): a start finds its own run by
the memo's lineage, a run drops events it already has, the customer frees a run once.
"""

from typing import Any

from temporalio import activity
from temporalio.client import Client
from temporalio.common import (
    SearchAttributePair,
    TypedSearchAttributes,
    WorkflowIDReusePolicy,
)
from temporalio.exceptions import WorkflowAlreadyStartedError
from temporalio.service import RPCError, RPCStatusCode

from journeys.vocabulary import search_attributes as sa
from journeys.vocabulary.events import EventBatch
from journeys.vocabulary.ids import customer_workflow_id
from journeys.vocabulary.journey_types import (
    JOURNEY_ENDED_SIGNAL,
    JOURNEY_EVENTS_SIGNAL,
    JOURNEY_WORKFLOW,
    JourneyEnded,
    RunEvents,
    RunStart,
)

LINEAGE = "lineage"  # memo key: the starting customer's first run id


async def start_runs(starts: list[RunStart]) -> list[str]:
    """Start each run; returns the workflow ids another customer's run already holds."""
    client = activity.client()
    refused = []
    for start in starts:
        if not await _start(client, start):
            refused.append(start.workflow_id)
    return refused


async def _start(client: Client, start: RunStart) -> bool:
    """True when the run is ours: started now, or by an earlier attempt of this activity."""
    run = start.input
    attributes: list[SearchAttributePair[Any]] = [
        SearchAttributePair(sa.CUSTOMER_ID, run.customer_id),
        SearchAttributePair(sa.JOURNEY_NAME, run.name),
        SearchAttributePair(sa.JOURNEY_VERSION, run.version),
    ]
    if run.spec is not None:  # where the run begins
        attributes.append(SearchAttributePair(sa.JOURNEY_STEP, run.spec.steps[0].id))
    try:
        await client.start_workflow(
            JOURNEY_WORKFLOW,
            run,
            id=start.workflow_id,
            task_queue=start.task_queue,
            id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
            search_attributes=TypedSearchAttributes(attributes),
            memo={LINEAGE: start.lineage},
            static_summary=start.summary or None,
        )
    except WorkflowAlreadyStartedError:
        description = await client.get_workflow_handle(start.workflow_id).describe()
        lineage = await description.memo_value(LINEAGE, default=None)
        return bool(lineage == start.lineage)
    return True


async def pass_events(passes: list[RunEvents], skip: list[str]) -> list[str]:
    """Signal each run its events (not those in `skip`); returns the runs that are gone."""
    client = activity.client()
    gone = []
    for batch in passes:
        if batch.workflow_id in skip:
            continue
        handle = client.get_workflow_handle(batch.workflow_id)
        try:
            await handle.signal(JOURNEY_EVENTS_SIGNAL, EventBatch(events=batch.events))
        except RPCError as err:
            if err.status != RPCStatusCode.NOT_FOUND:
                raise
            gone.append(batch.workflow_id)  # ended, or terminated without saying so
    return gone


async def tell_customer(customer_id: str, ended: JourneyEnded) -> None:
    """Signal the run's customer that the run ended; a customer merged away or deleted has
    nothing to free."""
    handle = activity.client().get_workflow_handle(customer_workflow_id(customer_id))
    try:
        await handle.signal(JOURNEY_ENDED_SIGNAL, ended)
    except RPCError as err:
        if err.status != RPCStatusCode.NOT_FOUND:
            raise
        activity.logger.info("customer not told of journey end", extra={"customer_id": customer_id})
