"""Temporal in tests: the time-skipping server with our search attributes, and a customer's
state read from its workflow."""

import asyncio
from collections.abc import Callable
from typing import Any

from temporalio.client import Client
from temporalio.service import RPCError
from temporalio.testing import WorkflowEnvironment

from journeys.devserver import start_time_skipping
from journeys.vocabulary.customer_types import CustomerState
from journeys.vocabulary.ids import customer_workflow_id
from journeys.workflows.customer import CustomerWorkflow


async def state_of(client: Client, customer_id: str) -> CustomerState:
    handle = client.get_workflow_handle(customer_workflow_id(customer_id))
    return await handle.query(CustomerWorkflow.get_state)


async def wait_for(
    client: Client,
    customer_id: str,
    predicate: Callable[[CustomerState], bool],
    seconds: float = 30,
) -> CustomerState:
    """Query until the state satisfies `predicate` (events are applied asynchronously)."""
    state: Any = None
    error: Exception | None = None
    deadline = asyncio.get_running_loop().time() + seconds
    while asyncio.get_running_loop().time() < deadline:
        try:
            state = await state_of(client, customer_id)
            if predicate(state):
                return state
        except Exception as err:  # noqa: BLE001  (not started yet, or no worker to answer)
            error = err
        await asyncio.sleep(0.1)
    raise AssertionError(
        f"state of {customer_id} never matched; last: {state}; last query error: {error!r}"
    )


async def until(predicate: Callable[[], bool], seconds: float = 30) -> None:
    """Poll `predicate` (an inbox filling, say) until it holds."""
    deadline = asyncio.get_running_loop().time() + seconds
    while not predicate():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"still false after {seconds} s: {predicate}")
        await asyncio.sleep(0.1)


async def wait_for_attribute(
    client: Client, workflow_id: str, key: Any, wanted: Any, seconds: float = 30
) -> None:
    """Describe until a search attribute has `wanted`: a workflow upserts them once its task's
    work is done, a moment after a query already shows the change."""
    found: Any = None
    deadline = asyncio.get_running_loop().time() + seconds
    while asyncio.get_running_loop().time() < deadline:
        try:
            described = await client.get_workflow_handle(workflow_id).describe()
        except RPCError:  # not started yet (a customer's store activity starts its runs)
            await asyncio.sleep(0.1)
            continue
        found = described.typed_search_attributes
        if found.get(key) == wanted:
            return
        await asyncio.sleep(0.1)
    raise AssertionError(f"{workflow_id}: {key.name} never became {wanted!r}; last: {found}")


async def start_skipping_env() -> WorkflowEnvironment:
    """The time-skipping test server, with our search attributes registered."""
    return await start_time_skipping()
