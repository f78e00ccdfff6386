"""Human tasks (admin key): list them by team and status, and complete one, which tells the
journey run waiting for it (or undoes the completion if it cannot)."""

from typing import Any

from fastapi import APIRouter, Depends
from pydantic import BaseModel
from sqlmodel import Session
from temporalio.service import RPCError, RPCStatusCode

from journeys.api.deps import ClientDep, StoreDep, require_admin
from journeys.api.errors import ApiError
from journeys.store.models import Task
from journeys.store.tasks import TaskError, complete_task, expire_task, list_tasks, reopen_task
from journeys.vocabulary.journey_types import TaskOutcome

router = APIRouter(prefix="/v1/tasks", dependencies=[Depends(require_admin)], tags=["tasks"])


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
    try:
        task: Task = await store.run(
            lambda s: complete_task(s, task_id=task_id, outcome=body.outcome)
        )
    except TaskError as err:
        raise ApiError(err.status, str(err)) from err
    try:  # the journey learns the outcome; if it cannot, the completion is undone
        await client.get_workflow_handle(task.workflow_id).signal(
            "task_completed", TaskOutcome(task_id=task_id, outcome=body.outcome)
        )
    except RPCError as err:
        if err.status == RPCStatusCode.NOT_FOUND:
            await store.run(lambda s: _expire(s, task_id))
            raise ApiError(409, "the journey run has ended; the task is expired") from err
        await store.run(lambda s: reopen_task(s, task_id=task_id))
        raise ApiError(503, "Temporal unavailable, retry", headers={"Retry-After": "2"}) from err
    return task.model_dump(mode="json")


def _expire(session: Session, task_id: str) -> None:
    reopen_task(session, task_id=task_id)
    expire_task(session, task_id=task_id)
