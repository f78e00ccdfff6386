"""A journey's send steps deliver through SMTP, with the step's fallback when email cannot go."""

import uuid

from temporalio.testing import WorkflowEnvironment

from config.settings import Settings
from store.db import session_scope
from store.journey_runs import customer_messages
from tests.channels.smtp import Inbox
from tests.journeys.test_shipped import identify
from tests.workflows.test_journey import event, finished, send
from worker.main import build_worker
from workflows.ids import journey_workflow_id


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
        ledger = {(m.channel, m.status) for m in customer_messages(session, customer_id=unknown)}
    assert ("email", "skipped") in ledger and ("push", "queued") in ledger
