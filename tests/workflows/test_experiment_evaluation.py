"""End to end on the time-skipping server with the real worker: 200 simulated customers run an
A/B test where variant b truly converts better (60% against 20%); the results find b with
confidence, the scheduled evaluation (ExperimentEvaluationWorkflow) promotes it as a new journey
version, and a customer entering afterwards gets b — even one the 50/50 split gave a."""

import asyncio
import random
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

import pytest
from sqlalchemy import func
from sqlmodel import select
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from journeys.activities.experiments import ExperimentActivities, journey_experiment_results
from journeys.config.settings import Settings
from journeys.store.catalog import catalog_version
from journeys.store.db import session_scope
from journeys.store.journey_runs import journey_events
from journeys.store.models import JourneyEvent
from journeys.vocabulary.experiment_types import EvaluateExperimentsInput
from journeys.vocabulary.ids import journey_workflow_id
from journeys.worker.main import build_worker
from journeys.workflows.experiment_evaluation import ExperimentEvaluationWorkflow
from journeys.workflows.journey import assign_variant
from tests.helpers.events import event
from tests.helpers.journeys import publish, send

SPEC = """
name: offer_test
trigger: {event: Checkout Started}
goal: {event: Order Completed}
steps:
  - id: split
    kind: experiment
    variants:
      - {name: a, weight: 1, goto: pause}
      - {name: b, weight: 1, goto: pause}
    promote: {min_exposures: 50, probability: 0.95}
  - {id: pause, kind: wait, duration: 2d}
"""
CUSTOMERS = 200
RATES = {"a": 0.2, "b": 0.6}
BATCH = 40  # signal-with-starts in flight at once


def variant_of(customer_id: str, weights: list[float]) -> str:
    """Exactly what JourneyWorkflow does for the experiment step."""
    return "ab"[assign_variant(f"offer_test:split:{customer_id}", weights)]


def count(url: str, kind: str, step: str | None = None) -> int:
    with session_scope(url) as session:
        query = select(func.count()).where(JourneyEvent.journey == "offer_test",
                                           JourneyEvent.kind == kind)  # fmt: skip
        if step is not None:
            query = query.where(JourneyEvent.step == step)
        return int(session.exec(query).one())


async def until(check: Callable[[], bool], what: str, seconds: float = 45) -> None:
    deadline = asyncio.get_running_loop().time() + seconds
    while not check():
        assert asyncio.get_running_loop().time() < deadline, f"timed out waiting for {what}"
        await asyncio.sleep(0.2)


async def in_batches(calls: list[Callable[[], object]]) -> None:
    for start in range(0, len(calls), BATCH):
        await asyncio.gather(*(call() for call in calls[start : start + BATCH]))  # type: ignore[misc]


@pytest.mark.slow
async def test_the_better_variant_is_found_and_promoted(
    skipping_env: WorkflowEnvironment,
    settings: Settings,
) -> None:
    client, url = skipping_env.client, settings.database_url
    catalog = publish(settings, SPEC)
    customers = [f"ab-{i:03d}" for i in range(CUSTOMERS)]
    rng = random.Random(20260501)
    assigned = {cid: variant_of(cid, [1, 1]) for cid in customers}
    converters = [cid for cid in customers if rng.random() < RATES[assigned[cid]]]
    evaluation_queue = f"{settings.task_queue}-experiments"
    evaluation_worker = Worker(
        client,
        task_queue=evaluation_queue,
        workflows=[ExperimentEvaluationWorkflow],
        activities=[ExperimentActivities(url).evaluate_experiments],
        activity_executor=ThreadPoolExecutor(max_workers=2),
    )
    async with build_worker(client, settings), evaluation_worker:
        await in_batches([
            lambda cid=cid: send(client, settings, cid, event("Checkout Started"), catalog=catalog)
            for cid in customers
        ])  # fmt: skip
        await until(lambda: count(url, "step", "split") == CUSTOMERS, "every run to be split")
        await in_batches([
            lambda cid=cid: send(client, settings, cid, event("Order Completed"), catalog=catalog)
            for cid in converters
        ])  # fmt: skip
        await until(lambda: count(url, "converted") == len(converters), "the orders")
        await skipping_env.sleep(timedelta(days=3))  # the others' waits run out
        await until(lambda: count(url, "completed") == CUSTOMERS - len(converters), "the ends")

        with session_scope(url) as session:
            (result,) = journey_experiment_results(session, journey="offer_test")
        arms = {arm.name: arm for arm in result.analysis.arms}
        assert arms["a"].exposures + arms["b"].exposures == CUSTOMERS
        assert arms["b"].exposures == sum(v == "b" for v in assigned.values())
        assert arms["b"].conversions == sum(assigned[c] == "b" for c in converters)
        assert result.best == "b"
        assert arms["b"].probability_best > 0.95
        assert result.analysis.p_value is not None and result.analysis.p_value < 0.05
        assert not result.analysis.sample_ratio_mismatch
        assert arms["a"].high < arms["b"].low  # the intervals do not even overlap

        evaluated = await client.execute_workflow(
            ExperimentEvaluationWorkflow.run,
            EvaluateExperimentsInput(),
            id="experiment-evaluation-test",
            task_queue=evaluation_queue,
        )
        assert [(p.journey, p.step, p.winner, p.from_version, p.to_version)
                for p in evaluated.promotions] == [("offer_test", "split", "b", 1, 2)]  # fmt: skip
        again = await client.execute_workflow(
            ExperimentEvaluationWorkflow.run,
            EvaluateExperimentsInput(),
            id="experiment-evaluation-test-2",
            task_queue=evaluation_queue,
        )
        assert again.promotions == []  # decided: nothing left to promote

        # a newcomer the 50/50 split would have given a now gets b, in version 2
        late = next(f"late-{i}" for i in range(100) if variant_of(f"late-{i}", [1, 1]) == "a")
        with session_scope(url) as session:
            newest = catalog_version(session)
        assert newest > catalog
        await send(client, settings, late, event("Checkout Started"), catalog=newest)
        run_id = journey_workflow_id("offer_test", late, 1)

        def split_recorded() -> bool:
            with session_scope(url) as session:
                return any(e.step == "split" for e in journey_events(session, workflow_id=run_id))

        await until(split_recorded, "the newcomer's split")
        with session_scope(url) as session:
            records = journey_events(session, workflow_id=run_id)
    split = next(e for e in records if e.step == "split")
    assert (split.version, split.detail) == (2, "variant b")
