"""A send whose next step is a branch takes the branch on the profile it read and writes the
branch's record with its own: the run has nothing left to write before it waits."""

from datetime import UTC, datetime

from temporalio.testing import ActivityEnvironment

from journeys.activities.channels import ChannelActivities
from journeys.channels.templates import load_templates
from journeys.config.settings import Settings
from journeys.store.customers import upsert_traits
from journeys.store.db import session_scope
from journeys.store.journey_runs import journey_events
from journeys.vocabulary.journey_types import (
    BranchAhead,
    JourneyInput,
    JourneyRecordInput,
    QueueMessageInput,
)

RUN = "journey-welcome-c1-1"
AT = datetime(2026, 12, 7, 12, 0, tzinfo=UTC)


def step_record(seq: int, step: str) -> JourneyRecordInput:
    run = JourneyInput(customer_id="c1", name="welcome", version=1, run=1)
    return run.record("step", workflow_id=RUN, seq=seq, at=AT, step=step)


GREETING = QueueMessageInput(
    idempotency_key=f"{RUN}:hello:1", customer_id="c1", journey="welcome", step="hello",
    channel="popover", template="welcome_popover", profile_wanted=True,
    step_record=step_record(2, "hello"),
    branch=BranchAhead(
        conditions=["traits.email != None", "properties.plan == 'pro'"],
        context={"properties": {"plan": "pro"}, "event": "page", "stage": "awareness",
                 "segments": []},
        record=step_record(3, "known"),
    ),
)  # fmt: skip


def test_the_send_takes_the_branch_after_it_once(settings: Settings) -> None:
    activities = ChannelActivities(settings, load_templates())
    first = ActivityEnvironment().run(activities.deliver_message, GREETING)
    assert first.status == "queued" and first.recorded
    assert first.branch is not None and first.branch.case == 1  # no email; the plan held
    # the customer leaves an email before a retry of the same send: the branch stays as taken
    with session_scope(settings.database_url) as session:
        upsert_traits(session, customer_id="c1", traits={"email": "c1@example.test"})
    again = ActivityEnvironment().run(activities.deliver_message, GREETING)
    assert again.branch is not None and again.branch.case == 1
    with session_scope(settings.database_url) as session:
        written = [(r.seq, r.step, r.detail) for r in journey_events(session, workflow_id=RUN)]
    assert written == [(2, "hello", "popover queued"), (3, "known", "case 2")]
