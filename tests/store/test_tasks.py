"""Human tasks in the store: completed once, even by two people at the same moment."""

import threading
from datetime import UTC, datetime, timedelta

import pytest

from journeys.store.db import session_scope
from journeys.store.models import Task
from journeys.store.tasks import TaskError, complete_task, create_task, expire_task


def make_task(database_url: str, task_id: str = "run:call:1") -> None:
    now = datetime.now(UTC)
    with session_scope(database_url) as session:
        create_task(session, task=Task(
            task_id=task_id, workflow_id="run", customer_id="c", journey="j", step="call",
            team="sales", title="Call", outcomes=["won", "lost"], created_at=now,
            deadline_at=now + timedelta(days=1),
        ))  # fmt: skip


def complete(database_url: str, outcome: str, task_id: str = "run:call:1") -> Task:
    with session_scope(database_url) as session:
        return complete_task(session, task_id=task_id, outcome=outcome)


def race(database_url: str, task_id: str) -> list[object]:
    """Two completions released at the same instant; each result is an outcome or a status."""
    results: list[object] = []
    barrier = threading.Barrier(2)

    def attempt(outcome: str) -> None:
        barrier.wait()
        try:
            results.append(complete(database_url, outcome, task_id).outcome)
        except TaskError as err:
            results.append(err.status)

    threads = [threading.Thread(target=attempt, args=(o,)) for o in ("won", "lost")]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return results


def test_two_concurrent_completions_one_wins_the_other_is_409(database_url: str) -> None:
    for round_ in range(20):
        task_id = f"run:call:{round_}"
        make_task(database_url, task_id)
        results = race(database_url, task_id)
        assert sorted(map(str, results))[0] == "409", results
        winner = next(r for r in results if r != 409)
        with session_scope(database_url) as session:
            assert session.get(Task, task_id).outcome == winner  # type: ignore[union-attr]


def test_unknown_outcome_is_400_unknown_task_404_expired_409(database_url: str) -> None:
    make_task(database_url)
    with pytest.raises(TaskError) as err:
        complete(database_url, "maybe")
    assert err.value.status == 400
    with pytest.raises(TaskError) as err:
        complete(database_url, "won", task_id="nope")
    assert err.value.status == 404
    with session_scope(database_url) as session:
        expire_task(session, task_id="run:call:1")
    with pytest.raises(TaskError) as err:
        complete(database_url, "won")
    assert err.value.status == 409 and "expired" in str(err.value)


def test_the_same_completion_again_is_a_retry_another_is_409(database_url: str) -> None:
    make_task(database_url)
    first = complete(database_url, "won")
    again = complete(database_url, "won")  # the caller retrying after a 503
    assert (again.status, again.outcome, again.completed_at) == (
        "completed", "won", first.completed_at,
    )  # fmt: skip
    with pytest.raises(TaskError) as refused:
        complete(database_url, "lost")
    assert refused.value.status == 409
