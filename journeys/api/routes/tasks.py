"""Human tasks (admin key): list them by team and status, and complete one, which tells the
journey run waiting for it (or undoes the completion if it cannot)."""

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

from fastapi import APIRouter, Depends
from pydantic import BaseModel
from sqlmodel import Session
from temporalio.client import WorkflowUpdateFailedError
from temporalio.service import RPCError, RPCStatusCode

from journeys.api.deps import ClientDep, KeyFirstRoute, StoreDep, require_admin
from journeys.api.errors import ApiError
from journeys.store.models import Task
from journeys.store.tasks import TaskError, complete_task, expire_task, list_tasks, reopen_task
from journeys.vocabulary.journey_types import COMPLETE_TASK_UPDATE, TaskOutcome

UPDATE_ATTEMPTS = 3  # the same update (by id) each time: a retry cannot apply it twice
UPDATE_TIMEOUT = timedelta(seconds=10)

router = APIRouter(
    route_class=KeyFirstRoute,
    prefix="/v1/tasks",
    dependencies=[Depends(require_admin)],
    tags=["tasks"],
)


class Completion(BaseModel):
    outcome: str


@router.get("", summary="human tasks, by team and status (default: open)")
async def tasks(
    store: StoreDep, team: str | None = None, status: str | None = "open"
) -> list[dict[str, Any]]:
    return await store.run(
        lambda s: [t.model_dump(mode="json") for t in list_tasks(s, team=team, status=status)]
    )


@router.post("/{task_id}/complete", summary="answer a human task with an outcome")
async def complete(
    task_id: str, body: Completion, store: StoreDep, client: ClientDep
) -> dict[str, Any]:
    """The store records the answer, then the run is given it by an update whose answer says
    the run has it. The update's id is the task's, so a retry (ours below, or the caller's
    after a 503) is answered by the same update, never applied twice; a completion that may
    have reached the run is therefore never undone."""
    asked_at = datetime.now(UTC)
    try:
        task: Task = await store.run(
            lambda s: complete_task(s, task_id=task_id, outcome=body.outcome)
        )
    except TaskError as err:
        raise ApiError(err.status, str(err)) from err
    repeated = task.completed_at is not None and task.completed_at < asked_at
    handle = client.get_workflow_handle(task.workflow_id)
    answer = TaskOutcome(task_id=task_id, outcome=body.outcome)
    for attempt in range(UPDATE_ATTEMPTS):
        try:
            result = await handle.execute_update(
                COMPLETE_TASK_UPDATE, answer, id=f"complete-{task_id}", result_type=str,
                rpc_timeout=UPDATE_TIMEOUT,
            )  # fmt: skip
            return {**task.model_dump(mode="json"), "run": result}
        except WorkflowUpdateFailedError as err:  # the run refused it: it has not acted on it
            await store.run(lambda s: reopen_task(s, task_id=task_id))
            raise ApiError(409, f"the journey run refused it: {err.cause}") from err
        except RPCError as err:
            if err.status == RPCStatusCode.NOT_FOUND:
                if repeated:  # the run took the first completion and has ended since
                    return {**task.model_dump(mode="json"), "run": "ended"}
                await store.run(lambda s: _expire(s, task_id))
                raise ApiError(409, "the journey run has ended; the task is expired") from err
            if attempt + 1 == UPDATE_ATTEMPTS:
                raise ApiError(503, "Temporal unavailable; the answer is kept, retry to confirm",
                               headers={"Retry-After": "2"}) from err  # fmt: skip
            await asyncio.sleep(0.5 * (attempt + 1))
    raise AssertionError("unreachable")


def _expire(session: Session, task_id: str) -> None:
    reopen_task(session, task_id=task_id)
    expire_task(session, task_id=task_id)
