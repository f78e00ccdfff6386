"""Years of one customer in minutes (time-skipping server): 10,000 events a year, dozens of
journey runs a year, a merge a year, segment changes, and an Advocate journey that keeps a
yearly anniversary for the customer's whole life. Every history stays bounded, the state stays
under its cap, every event is applied once and every email is sent once; the largest sizes are
printed. Three years in `make test` (the 12-minute budget); `make test-decade` (`--years 10`)
lives the decade, about 100,000 events."""

import uuid
from datetime import timedelta
from typing import Any

import pytest
from sqlmodel import select
from temporalio.client import Client
from temporalio.service import RPCError, RPCStatusCode
from temporalio.testing import WorkflowEnvironment

from journeys.client import deliver
from journeys.config.settings import Settings
from journeys.store.db import session_scope
from journeys.store.journey_runs import customer_messages
from journeys.store.models import JourneyEvent
from journeys.vocabulary.customer_types import CustomerInput, CustomerState
from journeys.vocabulary.events import CustomerEvent
from journeys.vocabulary.ids import customer_workflow_id
from journeys.vocabulary.journey_types import JourneyInput
from journeys.vocabulary.segment_types import SEGMENT_ENTERED, SEGMENT_EXITED
from journeys.worker.main import build_worker
from tests.helpers.journeys import publish, publish_shipped
from tests.helpers.smtp import Inbox, settings_for
from tests.helpers.temporal import wait_for

MONTHS = 12
EVENTS_PER_MONTH = 830  # about 10,000 a year
SIGNAL_SIZE = 415  # events per signal (the API groups a customer's calls the same way)
CUSTOMER_CAN = CustomerInput.model_fields["continue_as_new_after"].default  # the product's
JOURNEY_CAN = JourneyInput.model_fields["continue_as_new_after"].default

ANNIVERSARY = """
name: anniversary
description: Advocate. A card on every anniversary of the first order, for as long as they live.
trigger: {event: Order Completed, where: 'properties.first == True'}
re_entry: {policy: never}
steps:
  - {id: year, kind: wait, duration: 365d}
  - {id: card, kind: send, channel: email, template: order_thanks}
  - {id: again, kind: branch, cases: [{when: 'stage != "gone"', goto: year}]}
"""

BROWSING = """
name: browsing
description: Counts every product view for life (a loop through a wait, never ending).
trigger: {event: Signed Up}
re_entry: {policy: never}
steps:
  - {id: look, kind: wait_for_event, event: Product Viewed, timeout: 400d, on_timeout: done}
  - {id: tally, kind: update_profile, traits: {browsing: true}, next: look}
  - {id: done, kind: exit}
"""

DIGEST = """
name: monthly_digest
trigger: {event: Order Completed}
re_entry: {policy: always}
steps:
  - {id: thanks, kind: send, channel: email, template: order_thanks}
  - {id: settle, kind: wait, duration: 2d}
"""


@pytest.fixture
def settings(inbox: tuple[Inbox, int], sqlite_url: str, task_queue: str) -> Settings:
    return settings_for(sqlite_url, inbox[1]).model_copy(update={"task_queue": task_queue})


def month_of_events(n: int, at: Any, first: bool) -> list[CustomerEvent]:
    """A month of a loyal customer: browsing, a checkout, an order, now and then an NPS."""

    def make(i: int, name: str, **properties: Any) -> CustomerEvent:
        return CustomerEvent(message_id=str(uuid.uuid4()), type="track", event=name,
                             timestamp=at - timedelta(seconds=EVENTS_PER_MONTH - i),
                             properties=properties)  # fmt: skip

    events = [make(i, "Product Viewed", product_id=f"p{i % 40}") for i in range(n - 4)]
    events.append(make(n - 4, "Checkout Started", cart_id=f"cart-{at:%Y%m}"))
    events.append(make(n - 3, "Order Completed", order_id=f"o-{uuid.uuid4()}", total=40.0,
                       first=first))  # fmt: skip
    events.append(make(n - 2, "NPS Submitted", score=9 if at.month == 6 else 7))
    events.append(make(n - 1, f"Clicked Banner {at:%Y-%m}"))  # names a client makes up
    return events


async def skip(env: WorkflowEnvironment, days: int) -> None:
    """Skip time five days at a time: the test server answers a sleep once every workflow is
    idle, and a month of timers at once can outlast the call's deadline (then the step is tried
    again: time only moves on)."""
    for _ in range(days // 5):
        for attempt in range(3):
            try:
                await env.sleep(timedelta(days=5))
                break
            except RPCError:
                if attempt == 2:
                    raise


def ours(state: CustomerState) -> int:
    """The events the customer applied that were sent to it (not its segment changes)."""
    made = sum(state.event_counts.get(name, 0) for name in (SEGMENT_ENTERED, SEGMENT_EXITED))
    return state.events_total - made


async def history_lengths(client: Client, workflow_id: str) -> list[int]:
    """Each run's history length in the workflow's continue-as-new chain, newest first."""
    lengths, run_id = [], None
    while True:
        try:
            history = await client.get_workflow_handle(workflow_id, run_id=run_id).fetch_history()
        except RPCError as err:  # a run its customer still holds in its first wait
            if err.status != RPCStatusCode.NOT_FOUND:
                raise
            return lengths
        lengths.append(len(history.events))
        started = history.events[0].workflow_execution_started_event_attributes
        if not started.continued_execution_run_id:
            return lengths
        run_id = started.continued_execution_run_id


@pytest.mark.slow
@pytest.mark.decade
async def test_a_customer_lives_for_years_with_nothing_growing_lost_or_doubled(
    skipping_env: WorkflowEnvironment,
    inbox: tuple[Inbox, int],
    settings: Settings,
    pytestconfig: pytest.Config,
) -> None:
    years = pytestconfig.getoption("--years")
    box, _ = inbox
    client, cid = skipping_env.client, f"decade-{uuid.uuid4()}"
    publish_shipped(settings.database_url)
    for spec in (ANNIVERSARY, BROWSING):
        publish(settings, spec)
    catalog = publish(settings, DIGEST)
    sent_events, largest_state = 0, 0

    async def send(events: list[CustomerEvent]) -> None:
        nonlocal sent_events
        for start in range(0, len(events), SIGNAL_SIZE):
            chunk = events[start : start + SIGNAL_SIZE]
            await deliver(client, task_queue=settings.task_queue, customer_id=cid,
                          events=chunk, catalog_version=catalog)  # fmt: skip
        sent_events += len(events)

    async def applied() -> CustomerState:
        """Once every event sent is applied (segment entries and exits are the customer's own).
        Asked only once time has moved on, that is once the customer is idle: the legacy
        test server holds a query that arrives during a continue-as-new task and then never
        lets time move again (a real server answers it from the new run)."""
        return await wait_for(client, cid, lambda s: ours(s) == sent_events, seconds=120)

    async with build_worker(client, settings):
        now = await skipping_env.get_current_time()
        signup = CustomerEvent(message_id=str(uuid.uuid4()), type="identify", timestamp=now,
                               traits={"email": "ann@example.test", "plan": "pro"})  # fmt: skip
        await send([signup, CustomerEvent(message_id=str(uuid.uuid4()), type="track",
                                          event="Signed Up", timestamp=now)])  # fmt: skip
        for year in range(years):
            for month in range(MONTHS):
                now = await skipping_env.get_current_time()
                await send(month_of_events(EVENTS_PER_MONTH, now, first=year == month == 0))
                await skip(skipping_env, days=30)  # time moves only once the month is applied
                state = await applied()
                largest_state = max(largest_state, len(state.model_dump_json()))
            # once a year the customer shows up on a new device and signs in (a merge)
            visitor = f"{cid}-device-{year}"
            now = await skipping_env.get_current_time()
            await deliver(client, task_queue=settings.task_queue, customer_id=f"anon-{visitor}",
                          events=[CustomerEvent(message_id=str(uuid.uuid4()), type="page",
                                                timestamp=now)])  # fmt: skip
            await wait_for(client, f"anon-{visitor}", lambda s: s.events_total == 1)
            sent_events += 1  # it joins ours with the merge
            await send([CustomerEvent(message_id=str(uuid.uuid4()), type="identify",
                                      timestamp=now, merge_from=f"anon-{visitor}")])  # fmt: skip
            print(f"year {year + 1}: {sent_events} events", flush=True)
        await skipping_env.sleep(timedelta(days=3))  # the last sends go out
        state = await applied()
        customer_runs = await history_lengths(client, customer_workflow_id(cid))
        with session_scope(settings.database_url) as session:
            found = session.exec(
                select(JourneyEvent.workflow_id).where(JourneyEvent.customer_id == cid)
            )
            run_ids = sorted(set(found))
            ledger = customer_messages(session, customer_ids=[cid])
        journey_runs = {wid: await history_lengths(client, wid) for wid in run_ids
                        if not wid.startswith("journey-cart_recovery")}  # fmt: skip
    emails = [m for m in ledger if m.channel == "email" and m.status == "sent"]
    delivered = [mail["Message-ID"] for mail in box.messages]
    longest_run = max((n for lengths in journey_runs.values() for n in lengths), default=0)
    print(
        f"\n{years} years: {sent_events} events, {len(run_ids)} journey runs, "
        f"{len(customer_runs)} customer runs (largest history {max(customer_runs)}), "
        f"largest journey run history {longest_run} "
        f"(anniversary chain: {journey_runs.get(f'journey-anniversary-{cid}-1')}, "
        f"browsing chain: {journey_runs.get(f'journey-browsing-{cid}-1')}), "
        f"largest state {largest_state} bytes, {len(delivered)} emails"
    )
    assert ours(state) == sent_events  # each applied once
    assert sum(state.event_counts.values()) == state.events_total
    assert len(state.merged_from) <= 10 and len(state.stage_history) <= 50
    assert largest_state < 64_000
    assert max(customer_runs) <= CUSTOMER_CAN + 200 and len(customer_runs) > 1
    assert longest_run <= JOURNEY_CAN + 200
    assert len(journey_runs[f"journey-browsing-{cid}-1"]) > 1  # it continued as new
    assert len(run_ids) >= 20 * years  # dozens of runs a year
    assert len(delivered) == len(set(delivered)) == len(emails)  # each email sent once
    anniversary_cards = [m for m in ledger if m.journey == "anniversary"]
    assert len(anniversary_cards) >= years - 1  # a card a year, from a run as old as the customer
