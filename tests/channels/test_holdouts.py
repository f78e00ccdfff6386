"""Holdouts: a journey holds out a share of its entrants (the same customers on every entry),
who go through its steps but receive nothing; the report sets their goal rate against the
others' with the lift and its interval. The global control group gets no marketing message
from any journey, and transactional ones still."""

import uuid
from datetime import timedelta

from temporalio.testing import ActivityEnvironment, WorkflowEnvironment

from journeys.activities.channels import ChannelActivities
from journeys.channels.templates import Email, Template
from journeys.config.settings import Settings
from journeys.kpis.reports import as_json, lift_text
from journeys.store.customers import upsert_traits
from journeys.store.db import session_scope
from journeys.store.journey_runs import customer_messages
from journeys.store.kpis import RunFilter
from journeys.store.reports import journey_report
from journeys.vocabulary.holdouts import (
    GLOBAL_CONTROL_REASON,
    HOLDOUT_REASON,
    held_out,
    in_global_control,
)
from journeys.vocabulary.ids import journey_workflow_id
from journeys.vocabulary.journey_types import QueueMessageInput
from journeys.worker.main import build_worker
from tests.helpers.events import event, identify
from tests.helpers.journeys import finished, publish, send
from tests.helpers.smtp import Inbox
from tests.helpers.temporal import until

HELD = """
name: held
trigger: {event: Signed Up}
goal: {event: Order Completed}
holdout: 0.4
steps:
  - {id: hello, kind: send, channel: email, template: cart_recovery_email}
  - {id: pause, kind: wait, duration: 2d}
"""
CUSTOMERS = 16


async def test_held_out_entrants_go_through_the_journey_but_get_nothing(
    skipping_env: WorkflowEnvironment, inbox: tuple[Inbox, int], settings: Settings
) -> None:
    box, client = inbox[0], skipping_env.client
    catalog = publish(settings, HELD)
    customers = [f"h-{uuid.uuid4()}" for _ in range(CUSTOMERS)]
    held = {cid for cid in customers if held_out("held", cid, 0.4)}
    assert 0 < len(held) < CUSTOMERS  # 16 customers: both groups, but for a 1 in 3,000 draw
    buyers = set(customers[::3])
    async with build_worker(client, settings):
        for cid in customers:
            await send(client, settings, cid, identify(email=f"{cid}@example.test"),
                       event("Signed Up"), catalog=catalog)  # fmt: skip

        def all_sends_settled() -> bool:
            with session_scope(settings.database_url) as session:
                rows = [m for c in customers for m in customer_messages(session, customer_ids=[c])]
            return len(rows) == CUSTOMERS and all(m.status in ("sent", "skipped") for m in rows)

        await until(all_sends_settled)  # every run is past `hello`, mailed or not
        for cid in buyers:
            await send(client, settings, cid, event("Order Completed"), catalog=catalog)
        await skipping_env.sleep(timedelta(days=2))
        runs = {cid: await finished(skipping_env, journey_workflow_id("held", cid, 1))
                for cid in customers}  # fmt: skip

    assert sorted(m["To"] for m in box.messages) == sorted(
        f"{cid}@example.test" for cid in customers if cid not in held
    )
    for cid, run in runs.items():  # the held out went through the same steps
        steps = [s.step for s in run.steps]
        assert steps[0] == "hello", steps
        hello = run.steps[0].result
        assert hello == (f"email skipped ({HOLDOUT_REASON})" if cid in held else "email sent")
    with session_scope(settings.database_url) as session:
        for cid in held:
            (message,) = customer_messages(session, customer_ids=[cid])
            assert (message.status, message.reason) == ("skipped", HOLDOUT_REASON)
        report = journey_report(session, name="held", runs=RunFilter())
    assert report is not None and report.holdout is not None and report.global_control is None
    lift = report.holdout
    treated = [c for c in customers if c not in held]
    assert (lift.treated.entries, lift.treated.conversions) == (len(treated), len(buyers - held))
    assert (lift.held.entries, lift.held.conversions) == (len(held), len(buyers & held))
    assert lift.difference == lift.treated.rate - lift.held.rate
    assert lift.difference_low is not None and lift.difference_high is not None
    assert lift.difference_low < lift.difference < lift.difference_high
    assert f"of {len(held)} held out" in lift_text(as_json(lift))


MARKETING = Template(email=Email(subject="New in", text="Look"))
RECEIPT = Template(email=Email(subject="Your order", text="Thanks"), transactional=True)


def test_the_global_control_group_gets_no_marketing_but_its_receipts(
    inbox: tuple[Inbox, int], settings: Settings
) -> None:
    box = inbox[0]
    share = 0.5
    controlled = next(c for c in (f"g-{i}" for i in range(100)) if in_global_control(c, share))
    free = next(c for c in (f"g-{i}" for i in range(100)) if not in_global_control(c, share))
    with session_scope(settings.database_url) as session:
        for cid in (controlled, free):
            upsert_traits(session, customer_id=cid, traits={"email": f"{cid}@example.test"})
    activities = ChannelActivities(
        settings.model_copy(update={"global_control": share}),
        {"news": MARKETING, "receipt": RECEIPT},
    )

    def deliver(cid: str, template: str) -> tuple[str, str]:
        done = ActivityEnvironment().run(activities.deliver_message, QueueMessageInput(
            idempotency_key=f"{cid}:{template}", customer_id=cid, journey="j", step="s",
            channel="email", template=template,
        ))  # fmt: skip
        return done.status, done.reason

    assert deliver(controlled, "news") == ("skipped", GLOBAL_CONTROL_REASON)
    assert deliver(free, "news") == ("sent", "")
    assert deliver(controlled, "receipt") == ("sent", "")
    assert sorted(m["To"] for m in box.messages) == sorted(
        [f"{free}@example.test", f"{controlled}@example.test"]
    )
    assert [m["Subject"] for m in box.messages if m["To"].startswith(controlled)] == ["Your order"]
