"""Human tasks: created by journeys, listed by team, completed once with a known outcome."""

from datetime import UTC, datetime

from sqlalchemy import update
from sqlmodel import Session, col, select

from journeys.store.models import Task


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
    """Open → completed, once, even against a concurrent completion or expiry: the change is
    one conditional UPDATE (SQLite has no row locks). The same completion again returns the
    task (a caller's retry). Raises TaskError: 404 unknown, 400 bad outcome, 409 not open."""
    task = session.get(Task, task_id)
    if task is None:
        raise TaskError(404, f"no task {task_id!r}")
    if task.status == "open" and outcome not in task.outcomes:
        raise TaskError(400, f"unknown outcome {outcome!r}; one of {', '.join(task.outcomes)}")
    changed = session.execute(
        update(Task)
        .where(col(Task.task_id) == task_id, col(Task.status) == "open")
        .values(status="completed", outcome=outcome, completed_at=datetime.now(UTC))
    )
    session.refresh(task)
    repeated = task.status == "completed" and task.outcome == outcome
    if changed.rowcount != 1 and not repeated:  # type: ignore[attr-defined]
        answered = f" ({task.outcome})" if task.outcome else ""
        raise TaskError(409, f"task is {task.status}{answered}")
    return task  # completed now, or a retry of the same completion


def reopen_task(session: Session, *, task_id: str) -> None:
    """Undo a completion whose signal to the journey failed, so the caller can retry."""
    task = session.get(Task, task_id)
    if task is not None and task.status == "completed":
        task.status, task.outcome, task.completed_at = "open", None, None
        session.add(task)


def get_task(session: Session, *, task_id: str) -> Task:
    task = session.get(Task, task_id)
    if task is None:
        raise LookupError(f"no task {task_id}")
    return task


def escalate_task(session: Session, *, task_id: str, team: str) -> None:
    task = session.get(Task, task_id)
    if task is not None and task.status == "open":
        task.team, task.escalated = team, True
        session.add(task)


def expire_task(session: Session, *, task_id: str) -> None:
    """Open → expired; a completion that got there first stays (conditional, as above)."""
    session.execute(
        update(Task)
        .where(col(Task.task_id) == task_id, col(Task.status) == "open")
        .values(status="expired")
    )
