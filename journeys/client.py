"""Hand events to a customer's workflow: signal-with-start, so the first event creates it."""

from datetime import timedelta

from temporalio.client import Client
from temporalio.common import WorkflowIDConflictPolicy

from journeys.vocabulary.customer_types import CustomerInput
from journeys.vocabulary.events import CustomerEvent, EventBatch
from journeys.vocabulary.ids import customer_workflow_id
from journeys.workflows.customer import CustomerWorkflow

RPC_TIMEOUT = timedelta(seconds=10)  # past this the API answers 503 and the client retries


async def deliver(
    client: Client,
    *,
    task_queue: str,
    customer_id: str,
    events: list[CustomerEvent],
    catalog_version: int = 0,
) -> None:
    """Returns once Temporal has durably accepted the signal (raises otherwise)."""
    await client.start_workflow(
        CustomerWorkflow.run,
        CustomerInput(customer_id=customer_id),
        id=customer_workflow_id(customer_id),
        task_queue=task_queue,
        id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
        start_signal="events",
        start_signal_args=[EventBatch(events=events, catalog_version=catalog_version)],
        rpc_timeout=RPC_TIMEOUT,
        static_summary=f"Customer {customer_id}",  # shown in the UI's list; the id, no PII
    )
