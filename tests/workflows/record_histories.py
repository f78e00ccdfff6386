"""Record CustomerWorkflow histories for the replay test (run when adding a workflow version).

    .venv/bin/python -m tests.workflows.record_histories TAG    # v1, v2, ...

Runs a few customers on the time-skipping server (stages, profile activity, alias merge from both
sides, the inactivity timer, continue-as-new) and writes their histories to
tests/workflows/histories/customer-{TAG}-*.json. Existing files are never overwritten: they are the
running histories the current code must still replay. `baseline` is 0.2.0's tag and is refused:
those histories are what 0.2.0 wrote, and a later build must replay them as they are.
"""

import asyncio
import sys
import tempfile
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import yaml
from temporalio.client import Client, WorkflowHistory
from temporalio.testing import WorkflowEnvironment

from journeys.client import deliver
from journeys.config.settings import Settings
from journeys.config.temporal import DATA_CONVERTER
from journeys.data import JOURNEYS
from journeys.devserver import find_binary
from journeys.vocabulary import search_attributes as sa
from journeys.vocabulary.customer_types import CustomerInput
from journeys.vocabulary.events import CustomerEvent, EventBatch
from journeys.vocabulary.ids import customer_workflow_id
from journeys.worker.main import build_worker
from journeys.workflows.customer import CustomerWorkflow
from tests.helpers.events import track
from tests.helpers.temporal import start_skipping_env, wait_for

HERE = Path(__file__).parent / "histories"


async def record(tag: str) -> None:
    env = await start_skipping_env()
    client = env.client
    with tempfile.TemporaryDirectory() as tmp:
        settings = Settings(database_url=f"sqlite:///{tmp}/j.db", task_queue=f"rec-{uuid.uuid4()}")
        q = settings.task_queue
        async with build_worker(client, settings):
            # a customer along Buy -> Own -> Advocate, identified from anonymous browsing
            await deliver(
                client,
                task_queue=q,
                customer_id="anon-a1",
                events=[track("Product Viewed"), track("Checkout Started")],
            )
            await wait_for(client, "anon-a1", lambda s: s.events_total == 2)
            identify = CustomerEvent(
                message_id="rec-identify",
                type="identify",
                timestamp=track("x").timestamp,
                traits={"plan": "pro"},
                merge_from="anon-a1",
            )
            await deliver(client, task_queue=q, customer_id="u1", events=[identify])
            await wait_for(client, "u1", lambda s: "anon-a1" in s.merged_from)
            for event in [
                track("Order Completed", order_id="o1", total=10),
                track("Order Completed", order_id="o2", total=20),
                track("NPS Submitted", score=10),
            ]:
                await deliver(client, task_queue=q, customer_id="u1", events=[event])
            await wait_for(client, "u1", lambda s: s.events_total == 6)
            # quiet for weeks: at risk; then back
            await env.sleep(timedelta(days=31))
            await deliver(client, task_queue=q, customer_id="u1", events=[track("Product Viewed")])
            await wait_for(client, "u1", lambda s: s.events_total == 7)
            await env.sleep(timedelta(days=2))  # the merged anonymous customer ends
            for cid in ("u1", "anon-a1"):
                handle = client.get_workflow_handle(customer_workflow_id(cid))
                save(HERE / f"customer-{tag}-{cid}.json", await handle.fetch_history())
            await record_journeys(env, settings, tag)
            await record_scheduled(env, settings, tag)
    await env.shutdown()
    await record_continue_as_new(tag)


async def record_continue_as_new(tag: str) -> None:
    """A customer that continues as new (a tiny threshold) while events keep coming, on the
    dev server: the legacy time-skipping server loses signals that arrive while a
    continue-as-new completes."""
    env = await WorkflowEnvironment.start_local(
        data_converter=DATA_CONVERTER,
        dev_server_existing_path=find_binary("temporal"),
        search_attributes=sa.ALL,
    )
    client = env.client
    with tempfile.TemporaryDirectory() as tmp:
        settings = Settings(database_url=f"sqlite:///{tmp}/j.db", task_queue=f"rec-{uuid.uuid4()}")
        async with build_worker(client, settings):
            handle = await client.start_workflow(
                CustomerWorkflow.run,
                CustomerInput(customer_id="c1", continue_as_new_after=20),
                id=customer_workflow_id("c1"),
                task_queue=settings.task_queue,
            )
            for i in range(30):
                await handle.signal("events", EventBatch(events=[track("Page", i=i)]))
            await wait_for(client, "c1", lambda s: s.events_total == 30)
            first = (await handle.fetch_history()).events[0]
            run_id = first.workflow_execution_started_event_attributes.first_execution_run_id
            history = await client.get_workflow_handle(handle.id, run_id=run_id).fetch_history()
            save(HERE / f"customer-{tag}-c1.json", history)  # the run that continued as new
            await record_run_paths(client, settings, tag)
            await record_merge_with_runs(client, settings, tag)
    await env.shutdown()


REMINDER = """
name: reminder
trigger: {event: Product Viewed}
goal: {event: Signed Up}
steps:
  - {id: note, kind: send, channel: push, template: usage_nudge}
  - {id: later, kind: wait, duration: 7d}
"""


async def record_merge_with_runs(client: Client, settings: Settings, tag: str) -> None:
    """A customer absorbing an anonymous one whose journey run is in flight: it adopts the run
    and tells it who its customer is now (`reassign`); the sign-up sent with the identify,
    applied before the merge arrived, reaches the run then (`merge_catches_up_runs`, v5)."""
    from journeys.store.catalog import catalog_version
    from journeys.store.db import session_scope
    from journeys.store.journeys import publish_spec
    from journeys.vocabulary.journey_spec import JourneySpec

    with session_scope(settings.database_url) as session:
        publish_spec(session, spec=JourneySpec.model_validate(yaml.safe_load(REMINDER)))
        catalog = catalog_version(session)
    q = settings.task_queue
    await deliver(client, task_queue=q, customer_id="anon-m2", catalog_version=catalog,
                  events=[track("Product Viewed", product_id="p1")])  # fmt: skip
    await wait_for(client, "anon-m2", lambda s: "reminder" in s.journeys.active)
    identify = CustomerEvent(message_id="rec-m1-identify", type="identify",
                             timestamp=track("x").timestamp, traits={"plan": "pro"},
                             merge_from="anon-m2")  # fmt: skip
    await deliver(client, task_queue=q, customer_id="m1", events=[identify, track("Signed Up")],
                  catalog_version=catalog)  # fmt: skip
    await wait_for(client, "m1", lambda s: "anon-m2" in s.merged_from)
    await asyncio.sleep(1)  # the reassign and the sign-up go out as the merge's drain ends
    history = await client.get_workflow_handle(customer_workflow_id("m1")).fetch_history()
    save(HERE / f"customer-{tag}-m1.json", history)


PATHS = """
name: paths
trigger: {event: Trial Started}
goal: {event: Order Completed}
steps:
  - id: pick
    kind: decide
    actions:
      - {name: ten_off, goto: call, value: 10}
      - {name: free_shipping, goto: call, value: 10}
  - id: call
    kind: human_task
    team: sales
    title: Call about the trial
    outcomes: {qualified: listen}
    deadline: 1d
  - {id: listen, kind: wait_for_event, event: Ping, timeout: 30d, on_timeout: done}
  - {id: again, kind: branch, cases: [{when: 'event == "Ping"', goto: listen}]}
  - {id: done, kind: exit}
"""


async def record_run_paths(client: Client, settings: Settings, tag: str) -> None:
    """A journey run through the paths the other recordings lack: a decision, an operator's
    pause and resume, a task completed by update, a loop that continues as new, the goal."""
    from journeys.store.catalog import catalog_version
    from journeys.store.db import session_scope
    from journeys.store.journeys import publish_spec
    from journeys.vocabulary.journey_spec import JourneySpec
    from journeys.vocabulary.journey_types import JourneyInput, OperatorCommand, TaskOutcome
    from journeys.workflows.journey import JourneyWorkflow

    with session_scope(settings.database_url) as session:
        publish_spec(session, spec=JourneySpec.model_validate(yaml.safe_load(PATHS)))
        catalog_version(session)
    cid = "p1"
    # the replay test names a history after its file; the task's id is made of the workflow id,
    # so the run is given the name it will replay under
    workflow_id = f"journey-{tag}-paths-{cid}-1"
    handle = await client.start_workflow(
        JourneyWorkflow.run,
        JourneyInput(customer_id=cid, name="paths", version=1, run=1,
                     trigger_event=track("Trial Started"), continue_as_new_after=40),
        id=workflow_id, task_queue=settings.task_queue,
    )  # fmt: skip
    await handle.signal("pause", OperatorCommand(reason="recording"))
    await handle.signal("resume", OperatorCommand())
    task_id = f"{workflow_id}:call:1"
    for _ in range(100):  # until the run waits for the team (it says so once it does)
        described = await handle.describe()
        if described.typed_search_attributes.get(sa.JOURNEY_STEP) == "call":
            break
        await asyncio.sleep(0.1)
    await handle.execute_update(
        "complete_task", TaskOutcome(task_id=task_id, outcome="qualified"), result_type=str
    )
    for n in range(1, 16):
        await handle.signal("events", EventBatch(events=[track("Ping", n=n)]))
        for _ in range(100):
            progress = await handle.query(JourneyWorkflow.get_progress)
            if progress.visits.get("again") == n:
                break
            await asyncio.sleep(0.05)
    await handle.signal("events", EventBatch(events=[track("Order Completed", order_id="p1")]))
    await handle.result()
    first = (await handle.fetch_history()).events[0]
    run_id = first.workflow_execution_started_event_attributes.first_execution_run_id
    save(HERE / f"{workflow_id}.json",
         await client.get_workflow_handle(workflow_id, run_id=run_id).fetch_history())  # fmt: skip
    save(HERE / f"{workflow_id}-last.json", await handle.fetch_history())


async def record_journeys(env: WorkflowEnvironment, settings: Settings, tag: str) -> None:
    """A customer through the shipped journeys: welcome, cart recovery (held through its first
    wait, then converted by the order), post-purchase (a stage trigger, with a local-time wait)
    and NPS to referral; and a customer whose order ends cart recovery while it is held."""
    from journeys.cli.segments import SHIPPED, load_definition_files
    from journeys.cli.specs import load_spec_files
    from journeys.store.catalog import catalog_version
    from journeys.store.db import session_scope
    from journeys.store.journeys import publish_spec
    from journeys.store.segments import save_segment
    from journeys.vocabulary.ids import journey_workflow_id

    with session_scope(settings.database_url) as session:
        # segments first: customers evaluate them, and win_back names churn_risk
        for definition in load_definition_files([SHIPPED])[0]:
            save_segment(session, definition=definition)
        for spec in load_spec_files([JOURNEYS]):
            publish_spec(session, spec=spec)
        catalog = catalog_version(session)
    client, q, cid = env.client, settings.task_queue, "j1"

    async def send(*events: CustomerEvent) -> None:
        await deliver(client, task_queue=q, customer_id=cid, events=list(events),
                      catalog_version=catalog)  # fmt: skip

    page = CustomerEvent(message_id="rec-page", type="page", name="Home",
                         timestamp=track("x").timestamp)  # fmt: skip
    # the first product view comes before welcome's `since: step` wait can take it (not passed
    # since v6), the second once the run waits there (it goes on to the reminder)
    await send(page, track("Checkout Started"), track("Product Viewed", product_id="j1-p1"))
    await wait_for(client, cid, lambda s: "cart_recovery" in s.journeys.active)
    await env.sleep(timedelta(hours=2))
    await send(track("Product Viewed", product_id="j1-p2"))
    await send(track("Order Completed", order_id="j1-o1", total=40))
    await wait_for(client, cid, lambda s: "post_purchase" in s.journeys.active)
    # two app opens: post_purchase's one wait for them takes the first (the second is not
    # passed since v7)
    await send(track("Application Opened"), track("Application Opened"))
    await send(track("NPS Submitted", score=10))
    await send(track("Account Created"))  # b2b: nothing more, so the group stalls: a task
    for _ in range(16):  # every run ends within sixteen days
        await env.sleep(timedelta(days=1))
    ids = [customer_workflow_id(cid)] + [
        journey_workflow_id(name, cid, 1)
        for name in (
            "welcome",
            "cart_recovery",
            "post_purchase",
            "nps_referral",
            "b2b_buying_group",
        )
    ]
    for workflow_id in ids:
        history = await client.get_workflow_handle(workflow_id).fetch_history()
        kind, rest = workflow_id.split("-", 1)
        save(HERE / f"{kind}-{tag}-{rest}.json", history)
    # a checkout that ends in an order within cart recovery's first wait: the run its customer
    # held ends there, never started
    held = "j2"
    await deliver(client, task_queue=q, customer_id=held, catalog_version=catalog,
                  events=[track("Checkout Started")])  # fmt: skip
    await wait_for(client, held, lambda s: "cart_recovery" in s.journeys.held)
    await deliver(client, task_queue=q, customer_id=held, catalog_version=catalog,
                  events=[track("Order Completed", order_id="j2-o1", total=25)])  # fmt: skip
    await wait_for(client, held, lambda s: "cart_recovery" in s.journeys.last_ended)
    history = await client.get_workflow_handle(customer_workflow_id(held)).fetch_history()
    save(HERE / f"customer-{tag}-{held}.json", history)
    await record_run_without_spec(env, settings, tag)


async def record_run_without_spec(env: WorkflowEnvironment, settings: Settings, tag: str) -> None:
    """A run started with no spec in its input (as after its customer continued as new, before
    the next catalog load): it loads the spec itself, then converts."""
    from journeys.vocabulary.ids import journey_workflow_id
    from journeys.vocabulary.journey_types import JourneyInput
    from journeys.workflows.journey import JourneyWorkflow

    workflow_id = journey_workflow_id("cart_recovery", "direct", 1)
    handle = await env.client.start_workflow(
        JourneyWorkflow.run,
        JourneyInput(customer_id="direct", name="cart_recovery", version=1, run=1,
                     trigger_event=track("Checkout Started")),
        id=workflow_id,
        task_queue=settings.task_queue,
    )  # fmt: skip
    await env.sleep(timedelta(minutes=10))
    await handle.signal(
        JourneyWorkflow.receive, EventBatch(events=[track("Order Completed", order_id="d-o1")])
    )
    await handle.result()
    kind, rest = workflow_id.split("-", 1)
    save(HERE / f"{kind}-{tag}-{rest}.json", await handle.fetch_history())


async def record_scheduled(env: WorkflowEnvironment, settings: Settings, tag: str) -> None:
    """One run of each scheduled workflow (segment refresh, recommendation training, experiment
    evaluation, CLV fit) and of a backtest (over a window without calls: its one activity)."""
    from journeys.store.backtest_runs import create_backtest
    from journeys.store.db import session_scope
    from journeys.vocabulary.backtest_types import BacktestInput
    from journeys.vocabulary.experiment_types import EvaluateExperimentsInput
    from journeys.vocabulary.kpi_types import ClvFitInput
    from journeys.vocabulary.recommendation_types import TrainRecommendersInput
    from journeys.vocabulary.segment_types import SegmentRefreshInput
    from journeys.workflows.backtest import BacktestWorkflow
    from journeys.workflows.clv_fit import ClvFitWorkflow
    from journeys.workflows.experiment_evaluation import ExperimentEvaluationWorkflow
    from journeys.workflows.recommendation_training import RecommendationTrainingWorkflow
    from journeys.workflows.segment_refresh import SegmentRefreshWorkflow

    runs = [
        ("segment_refresh", SegmentRefreshWorkflow.run, SegmentRefreshInput()),
        ("recommendation_training", RecommendationTrainingWorkflow.run, TrainRecommendersInput()),
        ("experiment_evaluation", ExperimentEvaluationWorkflow.run, EvaluateExperimentsInput()),
        ("clv_fit", ClvFitWorkflow.run, ClvFitInput()),
        ("backtest", BacktestWorkflow.run, BacktestInput(
            backtest_id="b1", specs=[{"name": "empty", "steps": []}],
            start=datetime(2020, 1, 1, tzinfo=UTC), end=datetime(2020, 2, 1, tzinfo=UTC),
        )),
    ]  # fmt: skip
    with session_scope(settings.database_url) as session:
        create_backtest(session, backtest_id="b1", request={})
    for name, run, argument in runs:
        handle = await env.client.start_workflow(
            run,
            argument,
            id=f"{name}-{tag}",
            task_queue=settings.task_queue,  # type: ignore[arg-type]
        )
        await handle.result()
        save(HERE / f"{name}-{tag}.json", await handle.fetch_history())


def save(path: Path, history: WorkflowHistory) -> None:
    if path.exists():
        print(f"kept {path} (recorded histories are never overwritten)")
        return
    path.write_text(history.to_json())
    print(f"wrote {path} ({len(history.events)} events)")


if __name__ == "__main__":
    if len(sys.argv) != 2 or sys.argv[1] == "baseline":
        sys.exit("usage: python -m tests.workflows.record_histories TAG (v1, v2, ...; "
                 "'baseline' holds 0.2.0's histories and is never recorded again)")  # fmt: skip
    asyncio.run(record(sys.argv[1]))
