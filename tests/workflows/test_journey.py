"""JourneyWorkflow on the time-skipping server, started by customers whose events match a trigger.

Each test publishes a spec to the store, sends the customer's events as the API would (with the
catalog version), and reads the run's progress and the store's records (tests/helpers/journeys.py;
the `settings` fixture is in conftest.py).
"""

import uuid
from datetime import UTC, datetime, timedelta

import pytest
import yaml
from temporalio.service import RPCError
from temporalio.testing import WorkflowEnvironment

from journeys.config.settings import Settings
from journeys.store.db import session_scope
from journeys.store.journey_runs import customer_messages, journey_events
from journeys.vocabulary.events import CustomerEvent
from journeys.vocabulary.ids import customer_workflow_id, journey_workflow_id
from journeys.vocabulary.journey_spec import JourneySpec
from journeys.vocabulary.journey_types import TaskOutcome
from journeys.vocabulary.tracking_plan import TrackingPlan, plan_problems
from journeys.worker.main import build_worker
from journeys.workflows.journey import assign_variant
from tests.helpers.events import event, identify
from tests.helpers.journeys import (
    activities_asked,
    events_passed,
    finished,
    progress,
    publish,
    send,
    until_progress,
)
from tests.helpers.temporal import wait_for

CART = """
name: cart_recovery
trigger: {event: Checkout Started}
goal: {event: Order Completed}
re_entry: {policy: cooldown, cooldown: 3d}
steps:
  - {id: pause, kind: wait, duration: 1h}
  - {id: email, kind: send, channel: email, template: cart_email}
  - id: watch
    kind: wait_for_event
    event: Product Viewed
    timeout: 1d
    on_event: browsing
    on_timeout: sms
  - {id: sms, kind: send, channel: sms, template: cart_sms}
  - {id: last, kind: wait, duration: 2d}
  - {id: done, kind: exit, reason: gave up}
  - {id: browsing, kind: update_profile, traits: {cart_recovery: browsing}}
"""


async def test_timeouts_lead_through_every_step_to_the_exit(
    skipping_env: WorkflowEnvironment, settings: Settings
) -> None:
    client, catalog = skipping_env.client, publish(settings, CART)
    cid = f"c-{uuid.uuid4()}"
    run_id = journey_workflow_id("cart_recovery", cid, 1)
    async with build_worker(client, settings):
        await send(client, settings, cid, event("Checkout Started"), catalog=catalog)
        await wait_for(client, cid, lambda s: "cart_recovery" in s.journeys.active)
        done = await finished(skipping_env, run_id)
        state = await wait_for(client, cid, lambda s: not s.journeys.active)
    assert done.outcome == "exited"
    assert [(s.step, s.result) for s in done.steps] == [
        ("pause", ""),
        ("email", "email queued"),
        ("watch", "timeout"),
        ("sms", "sms queued"),
        ("last", ""),
        ("done", "gave up"),
    ]
    assert state.journeys.entries == {"cart_recovery": 1}
    with session_scope(settings.database_url) as session:
        sent = [(m.channel, m.template) for m in customer_messages(session, customer_ids=[cid])]
        records = journey_events(session, workflow_id=run_id)
    assert sent == [("email", "cart_email"), ("sms", "cart_sms")]
    assert [e.kind for e in records] == ["entered", *["step"] * 6, "exited"]
    assert records[-1].detail == "gave up"  # the exit step's reason


async def test_the_goal_reached_mid_wait_converts_at_once(
    skipping_env: WorkflowEnvironment, settings: Settings
) -> None:
    client, catalog = skipping_env.client, publish(settings, CART)
    cid = f"c-{uuid.uuid4()}"
    run_id = journey_workflow_id("cart_recovery", cid, 1)
    async with build_worker(client, settings):
        await send(client, settings, cid, event("Checkout Started"), catalog=catalog)
        state = await wait_for(client, cid, lambda s: "cart_recovery" in s.journeys.held)
        assert "cart_recovery" in state.journeys.active  # entered: its first wait is held
        await send(client, settings, cid, event("Order Completed", order_id="o1"), catalog=catalog)
        state = await wait_for(client, cid, lambda s: not s.journeys.active)
        await skipping_env.sleep(timedelta(days=2))  # past the wait: nothing starts
        with pytest.raises(RPCError):  # converted during its first wait: never started
            await client.get_workflow_handle(run_id).describe()
    assert not state.journeys.held and "cart_recovery" in state.journeys.last_ended
    with session_scope(settings.database_url) as session:
        records = journey_events(session, workflow_id=run_id)
        assert customer_messages(session, customer_ids=[cid]) == []  # nothing was sent
    # the records a run cut short in its first step writes
    assert [(r.seq, r.kind, r.step, r.detail) for r in records] == [
        (1, "entered", None, "v1"),
        (2, "step", "pause", "interrupted: converted"),
        (3, "converted", None, "pause"),
    ]


async def test_a_run_is_sent_only_the_events_it_reacts_to(
    skipping_env: WorkflowEnvironment, settings: Settings
) -> None:
    spec = JourneySpec.model_validate(yaml.safe_load(CART))
    assert spec.events_awaited() == ["Order Completed", "Product Viewed"]
    assert spec.listen_limits() == {"Product Viewed": 1}  # one wait takes one
    client, catalog = skipping_env.client, publish(settings, CART)
    cid = f"c-{uuid.uuid4()}"
    run_id = journey_workflow_id("cart_recovery", cid, 1)
    async with build_worker(client, settings):
        await send(client, settings, cid, event("Checkout Started"), catalog=catalog)
        await wait_for(client, cid, lambda s: "cart_recovery" in s.journeys.active)
        for name in ("Cart Viewed", "Product Added", "Product Viewed"):  # one of them awaited
            await send(client, settings, cid, event(name), catalog=catalog)
        for _ in range(2):  # more views: the run's one wait for them takes the first alone
            await send(client, settings, cid, event("Product Viewed"), catalog=catalog)
        await wait_for(client, cid, lambda s: s.events_total == 6)
        await skipping_env.sleep(timedelta(hours=2))  # the first wait over: the run starts
        result = await finished(skipping_env, run_id)
        passed = await events_passed(client, run_id)
    # held through its first wait, the run was passed the awaited event it kept: it satisfied
    # the later `wait_for_event` at once
    assert passed == ["Product Viewed"]  # nothing the run cannot use
    assert [s.step for s in result.steps][-2:] == ["watch", "browsing"]
    assert result.outcome == "completed"


async def test_a_run_started_by_its_customer_is_handed_its_spec(
    skipping_env: WorkflowEnvironment, settings: Settings
) -> None:
    client, catalog = skipping_env.client, publish(settings, CART)
    cid = f"c-{uuid.uuid4()}"
    run_id = journey_workflow_id("cart_recovery", cid, 1)
    async with build_worker(client, settings):
        await send(client, settings, cid, event("Checkout Started"), catalog=catalog)
        await wait_for(client, cid, lambda s: "cart_recovery" in s.journeys.active)
        await skipping_env.sleep(timedelta(hours=2))  # the first wait over: the run starts
        await wait_for(client, cid, lambda s: not s.journeys.held)
        await send(client, settings, cid, event("Order Completed", order_id="o1"), catalog=catalog)
        result = await finished(skipping_env, run_id)
        activities = await activities_asked(client, run_id)
        history = await client.get_workflow_handle(run_id).fetch_history()
    assert "load_journey_spec" not in activities, activities
    assert result.outcome == "converted" and result.version == 1
    # its patches taken from its input: no marker, no TemporalChangeVersion upsert
    markers = [e for e in history.events if e.HasField("marker_recorded_event_attributes")]
    versions = [
        e for e in history.events
        if "TemporalChangeVersion" in e.upsert_workflow_search_attributes_event_attributes
        .search_attributes.indexed_fields
    ]  # fmt: skip
    assert not markers and not versions, history.events


async def test_an_event_that_arrived_during_the_delay_satisfies_the_later_wait(
    skipping_env: WorkflowEnvironment, settings: Settings
) -> None:
    client, catalog = skipping_env.client, publish(settings, CART)
    cid = f"c-{uuid.uuid4()}"
    run_id = journey_workflow_id("cart_recovery", cid, 1)
    async with build_worker(client, settings):
        await send(client, settings, cid, event("Checkout Started"), catalog=catalog)
        await wait_for(client, cid, lambda s: "cart_recovery" in s.journeys.active)
        await send(client, settings, cid, event("Product Viewed"), catalog=catalog)  # early
        result = await finished(skipping_env, run_id)
    assert [(s.step, s.result) for s in result.steps] == [
        ("pause", ""),
        ("email", "email queued"),
        ("watch", "event"),
        ("browsing", ""),
    ]
    assert result.outcome == "completed"


async def test_a_wait_since_its_step_takes_only_what_arrives_once_the_run_is_there(
    skipping_env: WorkflowEnvironment, settings: Settings
) -> None:
    """`since: step`: the product viewed during the delay is no reaction to the email; the one
    viewed after it is. The customer does not even pass the run the early one: its wait comes
    an hour in at the soonest."""
    spec = CART.replace("    timeout: 1d\n", "    timeout: 1d\n    since: step\n")
    parsed = JourneySpec.model_validate(yaml.safe_load(spec))
    assert parsed.listen_delays() == {"Product Viewed": timedelta(hours=1)}
    client, catalog = skipping_env.client, publish(settings, spec)
    early, late = f"c-{uuid.uuid4()}", f"c-{uuid.uuid4()}"
    async with build_worker(client, settings):
        for cid in (early, late):
            await send(client, settings, cid, event("Checkout Started"), catalog=catalog)
            await wait_for(client, cid, lambda s: "cart_recovery" in s.journeys.active)
        await send(client, settings, early, event("Product Viewed"), catalog=catalog)
        await skipping_env.sleep(timedelta(hours=2))  # both at `watch` now
        late_run = journey_workflow_id("cart_recovery", late, 1)
        await until_progress(client, late_run, lambda p: p.current_step == "watch")
        await send(client, settings, late, event("Product Viewed"), catalog=catalog)
        early_run = journey_workflow_id("cart_recovery", early, 1)
        ignored = await finished(skipping_env, early_run)
        taken = await finished(skipping_env, late_run)
        assert await events_passed(client, early_run) == []
        assert await events_passed(client, late_run) == ["Product Viewed"]
    assert [(s.step, s.result) for s in ignored.steps][2:4] == [
        ("watch", "timeout"),
        ("sms", "sms queued"),
    ]
    assert [(s.step, s.result) for s in taken.steps][2:] == [("watch", "event"), ("browsing", "")]


async def test_re_entry_is_refused_while_active_and_during_the_cool_down(
    skipping_env: WorkflowEnvironment, settings: Settings
) -> None:
    client, catalog = skipping_env.client, publish(settings, CART)
    cid = f"c-{uuid.uuid4()}"
    async with build_worker(client, settings):
        await send(client, settings, cid, event("Checkout Started"), catalog=catalog)
        await wait_for(client, cid, lambda s: "cart_recovery" in s.journeys.active)
        await send(client, settings, cid, event("Checkout Started"), catalog=catalog)
        state = await wait_for(client, cid, lambda s: len(s.journeys.decisions) == 2)
        assert state.journeys.decisions[1].entered is False
        assert "already in cart_recovery" in state.journeys.decisions[1].reason
        await send(client, settings, cid, event("Order Completed"), catalog=catalog)
        await wait_for(client, cid, lambda s: not s.journeys.active)
        await send(client, settings, cid, event("Checkout Started"), catalog=catalog)
        state = await wait_for(client, cid, lambda s: len(s.journeys.decisions) == 3)
        assert "cool-down" in state.journeys.decisions[2].reason
        await skipping_env.sleep(timedelta(days=4))
        await send(client, settings, cid, event("Checkout Started"), catalog=catalog)
        state = await wait_for(client, cid, lambda s: len(s.journeys.decisions) == 4)
    assert state.journeys.decisions[3].entered
    assert state.journeys.entries == {"cart_recovery": 2}


async def test_runs_in_flight_keep_their_version_and_new_entries_take_the_newest(
    skipping_env: WorkflowEnvironment, settings: Settings
) -> None:
    client, first = skipping_env.client, publish(settings, CART)
    old, new = f"c-{uuid.uuid4()}", f"c-{uuid.uuid4()}"
    async with build_worker(client, settings):
        await send(client, settings, old, event("Checkout Started"), catalog=first)
        await wait_for(client, old, lambda s: "cart_recovery" in s.journeys.active)
        second = publish(settings, CART.replace("duration: 1h", "duration: 5h"))
        assert second > first
        await send(client, settings, new, event("Checkout Started"), catalog=second)
        held = await wait_for(client, new, lambda s: "cart_recovery" in s.journeys.active)
        assert held.journeys.held["cart_recovery"].start.input.version == 2
        await skipping_env.sleep(timedelta(hours=2))
        old_run = await progress(client, journey_workflow_id("cart_recovery", old, 1))
        held = await wait_for(client, new, lambda s: "cart_recovery" in s.journeys.held)
        await skipping_env.sleep(timedelta(hours=4))
        await wait_for(client, new, lambda s: not s.journeys.held)
        new_run = await progress(client, journey_workflow_id("cart_recovery", new, 1))
    assert old_run.version == 1  # started after its 1h pause, on the version it entered
    assert [s.step for s in old_run.steps][:2] == ["pause", "email"]
    assert new_run.version == 2  # its 5h pause held for 2h, then longer: still held
    assert [s.step for s in new_run.steps][:1] == ["pause"]


BRANCHY = """
name: vip_welcome
trigger: {event: Signed Up, where: 'properties.source != "test"'}
steps:
  - id: split
    kind: experiment
    variants:
      - {name: a, weight: 1, goto: check}
      - {name: b, weight: 1, goto: check}
  - id: check
    kind: branch
    cases:
      - {when: 'traits.plan == "pro"', goto: vip}
    otherwise: regular
  - {id: vip, kind: send, channel: email, template: vip_welcome, next: end}
  - {id: regular, kind: send, channel: email, template: welcome}
  - {id: end, kind: exit}
"""


async def test_branch_on_traits_experiment_assignment_and_trigger_condition(
    skipping_env: WorkflowEnvironment, settings: Settings
) -> None:
    client, catalog = skipping_env.client, publish(settings, BRANCHY)
    pro, free, tester = (f"c-{uuid.uuid4()}" for _ in range(3))
    identify = CustomerEvent(
        message_id=str(uuid.uuid4()),
        type="identify",
        timestamp=datetime.now(UTC),
        traits={"plan": "pro"},
    )
    async with build_worker(client, settings):
        await send(client, settings, pro, identify, event("Signed Up"), catalog=catalog)
        await send(client, settings, free, event("Signed Up"), catalog=catalog)
        await send(client, settings, tester, event("Signed Up", source="test"), catalog=catalog)
        runs = {}
        for cid in (pro, free):
            runs[cid] = await finished(skipping_env, journey_workflow_id("vip_welcome", cid, 1))
        state = await wait_for(client, tester, lambda s: s.events_total == 1)
    assert state.journeys.entries == {}  # the trigger's condition kept the tester out
    assert [s.step for s in runs[pro].steps] == ["split", "check", "vip", "end"]
    assert [s.step for s in runs[free].steps] == ["split", "check", "regular", "end"]
    for cid, run in runs.items():
        expected = "ab"[assign_variant(f"vip_welcome:split:{cid}", [1, 1])]
        assert run.assignments == {"split": expected}


GREET_THEN_CHECK = """
name: greet_then_check
trigger: {event: Signed Up}
steps:
  - {id: hello, kind: send, channel: popover, template: welcome_popover}
  - id: known
    kind: branch
    cases:
      - {when: 'traits.email != None', goto: mail}
    otherwise: end
  - {id: mail, kind: send, channel: email, template: welcome_email}
  - {id: end, kind: exit}
"""


async def test_a_branch_right_after_a_send_reads_the_profile_the_send_returned(
    skipping_env: WorkflowEnvironment, settings: Settings
) -> None:
    """The send hands the branch the customer's profile: the branch decides as it would have
    with a read of its own, and the run asks no `customer_profile` activity."""
    client, catalog = skipping_env.client, publish(settings, GREET_THEN_CHECK)
    known, anonymous = f"c-{uuid.uuid4()}", f"c-{uuid.uuid4()}"
    async with build_worker(client, settings):
        address = identify(email="known@example.com")
        await send(client, settings, known, address, event("Signed Up"), catalog=catalog)
        await send(client, settings, anonymous, event("Signed Up"), catalog=catalog)
        runs, asked = {}, {}
        for cid in (known, anonymous):
            workflow_id = journey_workflow_id("greet_then_check", cid, 1)
            runs[cid] = await finished(skipping_env, workflow_id)
            asked[cid] = await activities_asked(client, workflow_id)
    assert [s.step for s in runs[known].steps] == ["hello", "known", "mail", "end"]
    assert [s.step for s in runs[anonymous].steps] == ["hello", "known", "end"]
    for cid in (known, anonymous):
        assert "customer_profile" not in asked[cid], asked[cid]
        assert asked[cid][0] == "deliver_message"


async def test_a_new_customer_gets_the_catalog_with_its_first_activity(
    skipping_env: WorkflowEnvironment, settings: Settings
) -> None:
    """`begin_customer_run` hands a new customer the journeys it may enter: no activity of
    its own to load them before its first events start a run."""
    client, catalog = skipping_env.client, publish(settings, GREET_THEN_CHECK)
    cid = f"c-{uuid.uuid4()}"
    async with build_worker(client, settings):
        await send(client, settings, cid, event("Signed Up"), catalog=catalog)
        run = await finished(skipping_env, journey_workflow_id("greet_then_check", cid, 1))
        asked = await activities_asked(client, customer_workflow_id(cid))
    assert [s.step for s in run.steps] == ["hello", "known", "end"]
    assert asked[0] == "begin_customer_run" and "load_journey_catalog" not in asked, asked


def test_variant_assignment_follows_the_weights() -> None:
    counts = [0, 0, 0]
    for i in range(6000):
        counts[assign_variant(f"j:s:customer-{i}", [1, 2, 3])] += 1
    assert [round(c / 1000) for c in counts] == [1, 2, 3]


HANDOFF = """
name: b2b_handoff
trigger: {event: Demo Requested}
steps:
  - id: call
    kind: human_task
    team: sales
    title: Call about the demo
    outcomes: {qualified: end}
    deadline: 1d
    escalate_to: sales_leads
    on_deadline: nurture
  - {id: nurture, kind: send, channel: email, template: nurture}
  - {id: end, kind: exit}
"""


async def test_an_unhandled_task_escalates_then_expires_and_the_run_moves_on(
    skipping_env: WorkflowEnvironment, settings: Settings
) -> None:
    from journeys.store.models import Task

    client, catalog = skipping_env.client, publish(settings, HANDOFF)
    cid = f"c-{uuid.uuid4()}"
    run_id = journey_workflow_id("b2b_handoff", cid, 1)
    task_id = f"{run_id}:call:1"

    def task() -> Task | None:
        with session_scope(settings.database_url) as session:
            return session.get(Task, task_id)

    async with build_worker(client, settings):
        await send(client, settings, cid, event("Demo Requested"), catalog=catalog)
        await wait_for(client, cid, lambda s: "b2b_handoff" in s.journeys.active)
        await skipping_env.sleep(timedelta(hours=1))
        assert (t := task()) is not None and (t.team, t.status) == ("sales", "open")
        await skipping_env.sleep(timedelta(days=1))
        assert (t := task()) is not None and (t.team, t.escalated, t.status) == (
            "sales_leads", True, "open",
        )  # fmt: skip
        done = await finished(skipping_env, run_id)
    assert (t := task()) is not None and t.status == "expired"
    assert [(s.step, s.result) for s in done.steps][:2] == [
        ("call", "deadline"), ("nurture", "email queued"),
    ]  # fmt: skip


async def test_an_outcome_the_task_does_not_offer_is_ignored_and_the_task_stays_open(
    skipping_env: WorkflowEnvironment, settings: Settings
) -> None:
    """A `task_completed` signal sent by hand with a made-up outcome used to fail the run's
    workflow task for ever; now the run logs it and waits for a real answer."""
    client, catalog = skipping_env.client, publish(settings, HANDOFF)
    cid = f"c-{uuid.uuid4()}"
    run_id = journey_workflow_id("b2b_handoff", cid, 1)
    task_id = f"{run_id}:call:1"
    async with build_worker(client, settings):
        await send(client, settings, cid, event("Demo Requested"), catalog=catalog)
        await wait_for(client, cid, lambda s: "b2b_handoff" in s.journeys.active)
        run = client.get_workflow_handle(run_id)
        await skipping_env.sleep(timedelta(minutes=1))
        await run.signal("task_completed", TaskOutcome(task_id=task_id, outcome="maybe"))
        await skipping_env.sleep(timedelta(minutes=1))
        assert (await progress(client, run_id)).current_step == "call"
        await run.signal("task_completed", TaskOutcome(task_id=task_id, outcome="qualified"))
        done = await finished(skipping_env, run_id)
    assert [(s.step, s.result) for s in done.steps] == [
        ("call", "outcome qualified"), ("end", "exit"),
    ]  # fmt: skip


CORRELATED = """
name: cart_by_id
trigger: {event: Checkout Started}
goal: {event: Order Completed, correlate: cart_id}
steps:
  - id: watch
    kind: wait_for_event
    event: Product Viewed
    correlate: cart_id
    timeout: 1d
    on_event: browsing
  - {id: reminder, kind: wait, duration: 2d}
  - {id: browsing, kind: update_profile, traits: {browsing: true}}
"""


async def test_correlated_waits_and_goals_count_only_the_trigger_s_own_cart(
    skipping_env: WorkflowEnvironment, settings: Settings
) -> None:
    client, catalog = skipping_env.client, publish(settings, CORRELATED)
    cid = f"c-{uuid.uuid4()}"
    run_id = journey_workflow_id("cart_by_id", cid, 1)
    async with build_worker(client, settings):
        await send(client, settings, cid, event("Checkout Started", cart_id="A"), catalog=catalog)
        await wait_for(client, cid, lambda s: "cart_by_id" in s.journeys.active)
        # another cart's view and order: neither the wait nor the goal may take them
        await send(client, settings, cid, event("Product Viewed", cart_id="B"),
                   event("Order Completed", cart_id="B"), catalog=catalog)  # fmt: skip
        await skipping_env.sleep(timedelta(days=1, hours=1))
        assert (await progress(client, run_id)).current_step == "reminder"
        await send(client, settings, cid, event("Order Completed", cart_id="A"), catalog=catalog)
        result = await finished(skipping_env, run_id)
    assert result.outcome == "converted"
    assert [(s.step, s.result) for s in result.steps] == [
        ("watch", "timeout"),
        ("reminder", "interrupted: converted"),
    ]


def test_correlation_needs_an_event_trigger_and_a_planned_key() -> None:
    spec = yaml.safe_load(CORRELATED)
    with pytest.raises(ValueError, match=r"goal.correlate: only a journey triggered by an event"):
        JourneySpec.model_validate({**spec, "trigger": {"stage_changed": {"to": "loyalty"}}})
    plan = TrackingPlan(events={"Checkout Started": ["cart_id"], "Order Completed": ["cart_id"],
                                "Product Viewed": ["product_id"]})  # fmt: skip
    assert plan_problems(JourneySpec.model_validate(spec), plan) == [
        "steps[0].correlate: property 'cart_id' is not planned for 'Product Viewed'"
    ]


STAGE_NOW = """
name: stage_now
trigger: {event: Product Viewed}
steps:
  - {id: later, kind: wait, duration: 1h}
  - {id: check, kind: branch, cases: [{when: 'stage == "decision"', goto: ready}]}
  - {id: browsing, kind: exit, reason: still browsing}
  - {id: ready, kind: exit, reason: ready to buy}
"""


async def test_a_branch_reads_the_stage_the_customer_is_in_now_not_at_entry(
    skipping_env: WorkflowEnvironment, settings: Settings
) -> None:
    client, catalog = skipping_env.client, publish(settings, STAGE_NOW)
    cid = f"c-{uuid.uuid4()}"
    async with build_worker(client, settings):
        await send(client, settings, cid, event("Product Viewed"), catalog=catalog)  # consideration
        await send(client, settings, cid, event("Checkout Started"), catalog=catalog)  # decision
        await wait_for(client, cid, lambda s: s.stage == "decision")
        done = await finished(skipping_env, journey_workflow_id("stage_now", cid, 1))
    assert [(s.step, s.result) for s in done.steps][1:] == [
        ("check", "case 1"), ("ready", "ready to buy"),
    ]  # fmt: skip


ANY_CHANNEL = """
name: reach
trigger: {event: Checkout Started}
steps:
  - {id: nudge, kind: send, channel: email, template: usage_nudge, fallback: push}
  - {id: rest, kind: wait, duration: 1d}
"""


async def test_a_send_that_falls_back_records_both_channels_in_one_step_record(
    skipping_env: WorkflowEnvironment, settings: Settings
) -> None:
    """No email address: the email is skipped and the push goes instead (to the outbox: no push
    provider here); the step's one record, written by the push's send, says both, as the run's
    progress does."""
    settings = settings.model_copy(update={"smtp_host": "127.0.0.1", "smtp_port": 9})
    client, catalog = skipping_env.client, publish(settings, ANY_CHANNEL)
    cid = f"c-{uuid.uuid4()}"
    run_id = journey_workflow_id("reach", cid, 1)
    async with build_worker(client, settings):
        await send(client, settings, cid, event("Checkout Started"), catalog=catalog)
        done = await finished(skipping_env, run_id)
    said = "email skipped (no email address); push queued"
    assert [(s.step, s.result) for s in done.steps] == [("nudge", said), ("rest", "")]
    with session_scope(settings.database_url) as session:
        sent = [(m.channel, m.status) for m in customer_messages(session, customer_ids=[cid])]
        records = [
            (r.seq, r.kind, r.step, r.detail) for r in journey_events(session, workflow_id=run_id)
        ]
    assert sorted(sent) == [("email", "skipped"), ("push", "queued")]
    assert records == [
        (1, "entered", None, "v1"),
        (2, "step", "nudge", said),
        (3, "step", "rest", ""),
        (4, "completed", None, "rest"),
    ]
