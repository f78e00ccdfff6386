"""A journey's send steps deliver through SMTP, with the step's fallback when email cannot go."""

import asyncio
import uuid
from datetime import timedelta

from aiosmtpd.controller import Controller
from temporalio.client import Client
from temporalio.service import RPCError
from temporalio.testing import ActivityEnvironment, WorkflowEnvironment

from journeys.activities.recommendations import RecommendationActivities
from journeys.config.settings import Settings
from journeys.store.db import session_scope
from journeys.store.journey_runs import customer_messages, journey_events
from journeys.store.recommendations import upsert_products
from journeys.vocabulary.ids import customer_workflow_id, journey_workflow_id
from journeys.vocabulary.recommendation_types import TrainRecommendersInput
from journeys.worker.main import build_worker
from tests.helpers.events import event, identify
from tests.helpers.journeys import finished, publish, send
from tests.helpers.ports import free_port
from tests.helpers.smtp import Inbox, settings_for
from tests.helpers.temporal import state_of, until, wait_for


async def test_cart_recovery_emails_a_known_customer_and_falls_back_to_push_otherwise(
    skipping_env: WorkflowEnvironment, inbox: tuple[Inbox, int], settings: Settings, catalog: int
) -> None:
    box, _ = inbox
    client, known, unknown = skipping_env.client, f"c-{uuid.uuid4()}", f"c-{uuid.uuid4()}"
    async with build_worker(client, settings):
        await send(client, settings, known, identify(email="ann@example.test"),
                   event("Checkout Started"), catalog=catalog)  # fmt: skip
        await send(client, settings, unknown, event("Checkout Started"), catalog=catalog)
        runs = {
            cid: await finished(skipping_env, journey_workflow_id("cart_recovery", cid, 1))
            for cid in (known, unknown)
        }
    assert [m["To"] for m in box.messages] == ["ann@example.test"]
    email_step = {cid: next(s.result for s in run.steps if s.step == "email")
                  for cid, run in runs.items()}  # fmt: skip
    assert email_step[known] == "email sent"
    assert email_step[unknown] == "email skipped (no email address); push queued"
    with session_scope(settings.database_url) as session:
        ledger = {(m.channel, m.status) for m in customer_messages(session, customer_ids=[unknown])}
    assert ("email", "skipped") in ledger and ("push", "queued") in ledger


PICKS = """
name: picks
trigger: {event: Product Viewed}
steps:
  - {id: picks, kind: recommend, recommender: similar, count: 2}
  - {id: email, kind: send, channel: email, template: cart_recovery_email}
"""


async def test_a_recommend_step_puts_similar_products_into_the_next_email(
    skipping_env: WorkflowEnvironment, inbox: tuple[Inbox, int], settings: Settings
) -> None:
    box, _ = inbox
    with session_scope(settings.database_url) as session:
        upsert_products(session, products=[
            {"product_id": "boot-1", "name": "Trail boot", "category": "boots",
             "description": "waterproof leather hiking boot"},
            {"product_id": "boot-2", "name": "Summit boot", "category": "boots",
             "description": "leather hiking boot for mountains"},
            {"product_id": "mug-1", "name": "Coffee mug", "category": "kitchen",
             "description": "ceramic mug"},
        ])  # fmt: skip
    env = ActivityEnvironment()
    env.run(RecommendationActivities(settings.database_url).train_recommenders,
            TrainRecommendersInput())  # fmt: skip
    client, cid = skipping_env.client, f"c-{uuid.uuid4()}"
    catalog = publish(settings, PICKS)
    async with build_worker(client, settings):
        await send(client, settings, cid, identify(email="ann@example.test"),
                   event("Product Viewed", product_id="boot-1"), catalog=catalog)  # fmt: skip
        run = await finished(skipping_env, journey_workflow_id("picks", cid, 1))
    assert [s.result for s in run.steps] == ["2 products from similar", "email sent"]
    [mail] = box.messages
    text = next(p for p in mail.walk() if p.get_content_type() == "text/plain")
    body = text.get_payload(decode=True).decode()
    listed = body.split("Unsubscribe")[0]
    assert "- Summit boot" in listed  # the most similar product comes first
    assert listed.index("Summit boot") < listed.index("Coffee mug")


HELLO = """
name: hello
trigger: {event: Trial Started}
steps:
  - {id: email, kind: send, channel: email, template: welcome_email}
  - {id: rest, kind: wait, duration: 7d}
"""


async def test_a_customer_recreated_mid_journey_gets_its_new_run_s_email_once(
    skipping_env: WorkflowEnvironment, inbox: tuple[Inbox, int], settings: Settings
) -> None:
    """Terminated while its run waits, the customer's next event starts a new life: the new
    run's ids are its own, so the send ledger does not mistake its email for the first's."""
    box, _ = inbox
    client, cid = skipping_env.client, f"c-{uuid.uuid4()}"
    catalog = publish(settings, HELLO)
    async with build_worker(client, settings):
        await send(client, settings, cid, identify(email="ann@example.test"),
                   event("Trial Started"), catalog=catalog)  # fmt: skip
        await until(lambda: len(box.messages) == 1)
        first = await state_of(client, cid)
        await client.get_workflow_handle(customer_workflow_id(cid)).terminate("operator's slip")
        await send(client, settings, cid, event("Trial Started"), catalog=catalog)
        await until(lambda: len(box.messages) == 2)
        second = await wait_for(client, cid, lambda s: not s.journeys.held and s.journeys.active)
        await skipping_env.sleep(timedelta(minutes=5))  # time for a doubled send to show
    assert (first.epoch, second.epoch) == (1, 2)
    assert second.journeys.active["hello"].workflow_id == journey_workflow_id("hello", cid, 1, 2)
    assert [m["To"] for m in box.messages] == ["ann@example.test"] * 2
    with session_scope(settings.database_url) as session:
        sent = [m.idempotency_key for m in customer_messages(session, customer_ids=[cid])]
    assert sorted(sent) == [f"journey-hello-{cid}-1:email:1", f"journey-hello-{cid}-2.1:email:1"]


COME_BACK = """
name: come_back
trigger: {event: Checkout Started}
goal: {event: Order Completed}
steps:
  - {id: email, kind: send, channel: email, template: cart_recovery_email}
  - {id: rest, kind: wait, duration: 7d}
"""


async def test_a_goal_met_during_a_provider_outage_stops_the_send(
    skipping_env: WorkflowEnvironment, sqlite_url: str, task_queue: str
) -> None:
    """The SMTP server is down, so the email is retried; the customer orders meanwhile. Once
    the server is back, nothing goes out: the goal cancelled the send."""
    port = free_port()  # nothing listens there yet: an outage
    settings = settings_for(sqlite_url, port).model_copy(update={"task_queue": task_queue})
    client, cid = skipping_env.client, f"c-{uuid.uuid4()}"
    catalog = publish(settings, COME_BACK)
    run_id = journey_workflow_id("come_back", cid, 1)
    box = Inbox()
    async with build_worker(client, settings):
        await send(client, settings, cid, identify(email="ann@example.test"),
                   event("Checkout Started"), catalog=catalog)  # fmt: skip
        await until_retried(client, run_id)
        await send(client, settings, cid, event("Order Completed"), catalog=catalog)
        done = await finished(skipping_env, run_id)
        controller = Controller(box, hostname="127.0.0.1", port=port)
        controller.start()  # the provider is back
        try:
            await skipping_env.sleep(timedelta(hours=1))
            await asyncio.sleep(3)  # a send still retrying would be through by now
        finally:
            controller.stop()
    assert done.outcome == "converted"
    assert [(s.step, s.result) for s in done.steps] == [("email", "interrupted: converted")]
    assert box.messages == []
    with session_scope(settings.database_url) as session:  # why did they not get it?
        [row] = customer_messages(session, customer_ids=[cid])
        records = [(r.seq, r.kind, r.detail) for r in journey_events(session, workflow_id=run_id)]
    assert (row.status, row.reason) == ("skipped", "converted before it went out")
    # the run's records say so too, none missing: the cancelled send's attempts wrote no step
    assert records == [
        (1, "entered", "v1"), (2, "step", "interrupted: converted"), (3, "converted", "email"),
    ]  # fmt: skip


async def until_retried(client: Client, workflow_id: str) -> None:
    """Until the run's pending activity has failed at least once."""
    handle = client.get_workflow_handle(workflow_id)
    for _ in range(300):
        try:
            pending = (await handle.describe()).raw_description.pending_activities
        except RPCError:  # not started yet
            pending = []
        if pending and pending[0].attempt >= 2:
            return
        await asyncio.sleep(0.1)
    raise AssertionError(f"{workflow_id}: no activity retried")


async def test_a_send_the_provider_cannot_take_for_a_day_fails_and_the_run_goes_on(
    skipping_env: WorkflowEnvironment, sqlite_url: str, task_queue: str
) -> None:
    """A message still not out after a day of retries is stale: the step records it failed."""
    settings = settings_for(sqlite_url, free_port()).model_copy(update={"task_queue": task_queue})
    client, cid = skipping_env.client, f"c-{uuid.uuid4()}"
    catalog = publish(settings, COME_BACK)
    async with build_worker(client, settings):
        await send(client, settings, cid, identify(email="ann@example.test"),
                   event("Checkout Started"), catalog=catalog)  # fmt: skip
        done = await finished(skipping_env, journey_workflow_id("come_back", cid, 1))
    assert done.outcome == "completed"
    assert [(s.step, s.result) for s in done.steps] == [
        ("email", "email failed (not sent after 24 h of retries)"), ("rest", ""),
    ]  # fmt: skip
    with session_scope(settings.database_url) as session:
        [row] = customer_messages(session, customer_ids=[cid])
    assert (row.status, row.reason) == ("failed", "not sent after 24 h of retries")
