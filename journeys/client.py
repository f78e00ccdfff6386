"""Signal and query customers by name: what the API, the CLI and the segment refresh share.

By name (`journeys.vocabulary.customer_types`), not through the workflow class, so activities may
use it without importing workflow code.
"""

import asyncio
from datetime import timedelta
from typing import Any

from temporalio.api.sdk.v1 import WorkflowMetadata
from temporalio.client import Client
from temporalio.common import WorkflowIDConflictPolicy

from journeys.vocabulary.customer_types import (
    CUSTOMER_WORKFLOW,
    EVENTS_SIGNAL,
    STATE_QUERY,
    CustomerInput,
    CustomerState,
)
from journeys.vocabulary.events import CustomerEvent, EventBatch
from journeys.vocabulary.ids import customer_workflow_id
from journeys.vocabulary.patches import PATHS

METADATA_QUERY = "__temporal_workflow_metadata"  # what the Temporal UI asks a workflow
RPC_TIMEOUT = timedelta(seconds=10)  # past this the API answers 503 and the client retries


async def deliver(
    client: Client,
    *,
    task_queue: str,
    customer_id: str,
    events: list[CustomerEvent],
    catalog_version: int = 0,
) -> None:
    """Signal-with-start, so the first event creates the customer. Returns once Temporal has
    durably accepted the signal (raises otherwise)."""
    await client.start_workflow(
        CUSTOMER_WORKFLOW,
        CustomerInput(customer_id=customer_id, paths=PATHS),
        id=customer_workflow_id(customer_id),
        task_queue=task_queue,
        id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
        start_signal=EVENTS_SIGNAL,
        start_signal_args=[EventBatch(events=events, catalog_version=catalog_version)],
        rpc_timeout=RPC_TIMEOUT,
        static_summary=f"Customer {customer_id}",  # shown in the UI's list; the id, no PII
    )


async def customer_state(client: Client, customer_id: str) -> CustomerState:
    """The customer's live state, as its workflow answers the `state` query."""
    handle = client.get_workflow_handle(customer_workflow_id(customer_id))
    state: CustomerState = await handle.query(STATE_QUERY, result_type=CustomerState)
    return state


async def live_state(client: Client, customer_id: str) -> dict[str, Any] | None:
    """The customer's workflow state (entry decisions, active runs), or None if it does not
    answer within 10 s (no such workflow, no worker)."""
    try:
        state = await asyncio.wait_for(customer_state(client, customer_id), timeout=10)
    except Exception:  # noqa: BLE001  (no such workflow, no worker: the store speaks)
        return None
    runs = list(state.journeys.active.values())
    doing = await asyncio.gather(*(run_details(client, run.workflow_id) for run in runs))
    return {
        "stage": state.stage.value,
        "at_risk": state.at_risk,
        "segments": state.segments,
        "active_journeys": sorted(state.journeys.active),
        "held_journeys": {  # runs the customer holds in their first wait: start time
            name: held.until.isoformat() for name, held in state.journeys.held.items()
        },
        "entry_decisions": [d.model_dump(mode="json") for d in state.journeys.decisions],
        "refused": state.journeys.refused,
        "events_total": state.events_total,
        # what each run in flight is doing now ("quiet hours, sending at 2026-12-07 08:00
        # UTC"), as the Temporal UI shows it; a run that did not answer is left out
        "runs_now": {run.workflow_id: now for run, now in zip(runs, doing, strict=True) if now},
    }


async def run_details(client: Client, workflow_id: str) -> str | None:
    """A journey run's current details (`workflow.set_current_details`) without the run's
    name, as plain text; None if it does not answer within 5 s."""
    handle = client.get_workflow_handle(workflow_id)
    try:
        metadata = await asyncio.wait_for(
            handle.query(METADATA_QUERY, result_type=WorkflowMetadata), timeout=5
        )
    except Exception:  # noqa: BLE001  (ended, no worker: the store's records speak)
        return None
    details = metadata.current_details.replace("**", "")
    return details.split(": ", 1)[1] if ": " in details else details or None


def run_status(run: dict[str, Any], live: dict[str, Any] | None) -> str:
    """A run of the customer's story (`store.inspect`) in a word — converted, exited, completed
    or running — and for a running one what it does now, if it said (`live_state`)."""
    end = next((k for k in ("converted", "exited", "completed") if k in run), "running")
    doing = (live or {}).get("runs_now", {}).get(run["workflow_id"])
    return f"{end}, now: {doing}" if end == "running" and doing else end
