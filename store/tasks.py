"""Human tasks: created by journeys, listed by team, completed once with a known outcome."""

from datetime import UTC, datetime

from sqlmodel import Session, col, select

from store.models import Task


class TaskError(Exception):
    """A completion that is refused; `status` is the HTTP answer it deserves."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


def create_task(session: Session, *, task: Task) -> None:
    """Idempotent on the task id: a retried activity creates it once."""
    if session.get(Task, task.task_id) is None:
        session.add(task)


def list_tasks(
    session: Session, *, team: str | None = None, status: str | None = "open"
) -> list[Task]:
    query = select(Task)
    if team is not None:
        query = query.where(Task.team == team)
    if status is not None:
        query = query.where(Task.status == status)
    return list(session.exec(query.order_by(col(Task.created_at))))


def complete_task(session: Session, *, task_id: str, outcome: str) -> Task:
    """Open → completed, once. Raises TaskError: 404 unknown, 409 not open, 400 bad outcome."""
    task = session.get(Task, task_id, with_for_update=True)
    if task is None:
        raise TaskError(404, f"no task {task_id!r}")
    if task.status != "open":
        raise TaskError(
            409, f"task is {task.status}" + (f" ({task.outcome})" if task.outcome else "")
        )
    if outcome not in task.outcomes:
        raise TaskError(400, f"unknown outcome {outcome!r}; one of {', '.join(task.outcomes)}")
    task.status, task.outcome, task.completed_at = "completed", outcome, datetime.now(UTC)
    session.add(task)
    return task


def reopen_task(session: Session, *, task_id: str) -> None:
    """Undo a completion whose signal to the journey failed, so the caller can retry."""
    task = session.get(Task, task_id)
    if task is not None and task.status == "completed":
        task.status, task.outcome, task.completed_at = "open", None, None
        session.add(task)


def escalate_task(session: Session, *, task_id: str, team: str) -> None:
    task = session.get(Task, task_id)
    if task is not None and task.status == "open":
        task.team, task.escalated = team, True
        session.add(task)


def expire_task(session: Session, *, task_id: str) -> None:
    task = session.get(Task, task_id)
    if task is not None and task.status == "open":
        task.status = "expired"
        session.add(task)
