"""The journeys shipped in `journeys/data/`, along their main paths on the time-skipping server."""

import contextlib
import uuid
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from temporalio.testing import ActivityEnvironment, WorkflowEnvironment

from journeys.activities.kpis import KpiActivities
from journeys.activities.segments import SegmentActivities
from journeys.cli.specs import load_spec_files
from journeys.config.settings import Settings
from journeys.store.db import session_scope
from journeys.store.journey_runs import customer_messages, journey_events
from journeys.store.journeys import CatalogError, publish_spec
from journeys.store.models import Customer
from journeys.store.segments import customer_memberships
from journeys.vocabulary.events import CustomerEvent
from journeys.vocabulary.ids import journey_workflow_id
from journeys.vocabulary.kpi_types import ClvFitInput
from journeys.vocabulary.segment_types import SegmentRefreshInput
from journeys.worker.main import build_worker
from tests.helpers.bgnbd import insert_orders, simulate
from tests.helpers.events import event, identify
from tests.helpers.journeys import (
    SHIPPED,
    activities_asked,
    events_passed,
    finished,
    publish_shipped,
    send,
    until_progress,
)
from tests.helpers.temporal import until, wait_for


@pytest.fixture
def settings(sqlite_url: str, task_queue: str) -> Settings:
    # quiet hours off: the time-skipping server starts at the real time of day
    return Settings(
        database_url=sqlite_url, task_queue=task_queue, inactivity_days=30, quiet_hours=""
    )


@pytest.fixture
def catalog(settings: Settings) -> int:
    return publish_shipped(settings.database_url)


def sent(settings: Settings, cid: str, journey: str) -> list[str]:
    """The templates `journey` queued for the customer, in order."""
    with session_scope(settings.database_url) as session:
        messages = customer_messages(session, customer_ids=[cid])
    return [m.template for m in messages if m.journey == journey]


def popovers(settings: Settings, cid: str, journey: str) -> list[tuple[str, str, str]]:
    """(template, status, reason) of the popovers `journey` queued for the customer."""
    with session_scope(settings.database_url) as session:
        messages = customer_messages(session, customer_ids=[cid])
    return [(m.template, m.status, m.reason) for m in messages
            if m.journey == journey and m.channel == "popover"]  # fmt: skip


def records(settings: Settings, workflow_id: str) -> list[tuple[int, str, str | None, str]]:
    """(seq, kind, step, detail) of a run's records in the store."""
    with session_scope(settings.database_url) as session:
        return [(r.seq, r.kind, r.step, r.detail)
                for r in journey_events(session, workflow_id=workflow_id)]  # fmt: skip


def last_record(settings: Settings, workflow_id: str) -> tuple[str, str]:
    """How a run ended, and for whom, as the store recorded it."""
    with session_scope(settings.database_url) as session:
        last = journey_events(session, workflow_id=workflow_id)[-1]
    return last.kind, last.customer_id


async def record_becomes(
    settings: Settings, workflow_id: str, wanted: tuple[str, str]
) -> tuple[str, str]:
    """The run's last record once it is `wanted` (or the last one after 10 s): a customer's
    state shows a change a moment before its store activity has written it."""
    with contextlib.suppress(AssertionError):
        await until(lambda: last_record(settings, workflow_id) == wanted, seconds=10)
    return last_record(settings, workflow_id)


def test_every_shipped_journey_validates() -> None:
    names = {spec.name for spec in load_spec_files([SHIPPED])}
    assert {"welcome", "cart_recovery", "post_purchase", "nps_referral", "win_back"} <= names


async def test_cart_recovery_converts_on_the_order_and_stops_sending(
    skipping_env: WorkflowEnvironment, settings: Settings, catalog: int
) -> None:
    client, cid = skipping_env.client, f"c-{uuid.uuid4()}"
    async with build_worker(client, settings):
        await send(client, settings, cid, event("Checkout Started"), catalog=catalog)
        await skipping_env.sleep(timedelta(hours=2))  # past the grace hour: popover and email
        await send(client, settings, cid, event("Order Completed", order_id="o1"), catalog=catalog)
        run = await finished(skipping_env, journey_workflow_id("cart_recovery", cid, 1))
    assert run.outcome == "converted"
    assert sent(settings, cid, "cart_recovery") == ["cart_recovery_popover", "cart_recovery_email"]
    # no page showed the popover before the order: "you left something in your cart" is
    # taken back, not shown on the next page
    assert popovers(settings, cid, "cart_recovery") == [(
        "cart_recovery_popover", "skipped",
        "withdrawn: the run ended (converted) before a page showed it",
    )]  # fmt: skip
    picks = next(s.result for s in run.steps if s.step == "picks")  # no orders yet: fallback
    assert picks.startswith("0 products from bought_together"), picks


async def test_cart_recovery_without_an_order_ends_after_the_sms(
    skipping_env: WorkflowEnvironment, settings: Settings, catalog: int
) -> None:
    client, cid = skipping_env.client, f"c-{uuid.uuid4()}"
    async with build_worker(client, settings):
        await send(client, settings, cid, event("Checkout Started"), catalog=catalog)
        run = await finished(skipping_env, journey_workflow_id("cart_recovery", cid, 1))
    assert run.outcome == "completed"
    assert sent(settings, cid, "cart_recovery") == [
        "cart_recovery_popover", "cart_recovery_email", "cart_recovery_sms",
    ]  # fmt: skip
    # a run that went to its end leaves its popover for the next page (until it expires)
    assert [(t, status) for t, status, _ in popovers(settings, cid, "cart_recovery")] == [
        ("cart_recovery_popover", "queued")
    ]


async def test_cart_recovery_exits_when_the_cart_is_emptied(
    skipping_env: WorkflowEnvironment, settings: Settings, catalog: int
) -> None:
    client, cid = skipping_env.client, f"c-{uuid.uuid4()}"
    async with build_worker(client, settings):
        await send(client, settings, cid, event("Checkout Started"), catalog=catalog)
        await wait_for(client, cid, lambda s: "cart_recovery" in s.journeys.active)
        await send(client, settings, cid, event("Cart Emptied"), catalog=catalog)
        await wait_for(client, cid, lambda s: "cart_recovery" not in s.journeys.active)
        # in its first wait, held by the customer: it ends there, never started
        assert await record_becomes(
            settings, journey_workflow_id("cart_recovery", cid, 1), ("exited", cid)
        ) == ("exited", cid)
    assert sent(settings, cid, "cart_recovery") == []
    with session_scope(settings.database_url) as session:
        ended = journey_events(session, workflow_id=journey_workflow_id("cart_recovery", cid, 1))
    assert ended[-1].detail == "Cart Emptied"  # the exit rule's event: the report's reason


async def test_cart_recovery_emptied_after_its_popover_takes_the_popover_back(
    skipping_env: WorkflowEnvironment, settings: Settings, catalog: int
) -> None:
    client, cid = skipping_env.client, f"c-{uuid.uuid4()}"
    run_id = journey_workflow_id("cart_recovery", cid, 1)
    async with build_worker(client, settings):
        await send(client, settings, cid, event("Checkout Started"), catalog=catalog)
        await skipping_env.sleep(timedelta(hours=2))  # past the grace hour: popover and email
        await wait_for(client, cid, lambda s: not s.journeys.held)
        await send(client, settings, cid, event("Cart Emptied"), catalog=catalog)
        run = await finished(skipping_env, run_id)
    assert run.outcome == "exited"
    assert await record_becomes(settings, run_id, ("exited", cid)) == ("exited", cid)
    with session_scope(settings.database_url) as session:
        assert journey_events(session, workflow_id=run_id)[-1].detail == "Cart Emptied"
    assert popovers(settings, cid, "cart_recovery") == [(
        "cart_recovery_popover", "skipped",
        "withdrawn: the run ended (exited) before a page showed it",
    )]  # fmt: skip


@pytest.mark.parametrize("used", [False, True])
async def test_post_purchase_nudges_non_users_and_surveys_at_ten_local_time(
    skipping_env: WorkflowEnvironment, settings: Settings, catalog: int, used: bool
) -> None:
    client, cid = skipping_env.client, f"c-{uuid.uuid4()}"
    async with build_worker(client, settings):
        await send(
            client, settings, cid, identify(timezone="Asia/Tokyo"),
            event("Order Completed", order_id="o1"), catalog=catalog,
        )  # fmt: skip
        if used:  # a daily user: the run's one wait for an app open takes the first
            await skipping_env.sleep(timedelta(days=3))
            for _ in range(3):
                await send(client, settings, cid, event("Application Opened"), catalog=catalog)
        run_id = journey_workflow_id("post_purchase", cid, 1)
        run = await finished(skipping_env, run_id)
        assert await events_passed(client, run_id) == (["Application Opened"] if used else [])
    nudge = ["usage_nudge"] if not used else []
    assert sent(settings, cid, "post_purchase") == [
        "order_thanks", "getting_started_tips", *nudge, "satisfaction_survey",
    ]  # fmt: skip
    survey = next(s for s in run.steps if s.step == "survey")
    assert survey.at.astimezone(ZoneInfo("Asia/Tokyo")).strftime("%H:%M") == "10:00"


@pytest.mark.parametrize(
    ("score", "templates"),
    [
        (10, ["referral_ask", "referral_reminder"]),
        (3, ["detractor_alert"]),
        (8, ["nps_thanks"]),
    ],
)
async def test_nps_answers_lead_to_referral_care_or_thanks(
    skipping_env: WorkflowEnvironment, settings: Settings, catalog: int, score: int,
    templates: list[str],
) -> None:  # fmt: skip
    client, cid = skipping_env.client, f"c-{uuid.uuid4()}"
    async with build_worker(client, settings):
        await send(client, settings, cid, event("NPS Submitted", score=score), catalog=catalog)
        await finished(skipping_env, journey_workflow_id("nps_referral", cid, 1))
    assert sent(settings, cid, "nps_referral") == templates


def test_win_back_needs_the_churn_risk_segment_published_first(sqlite_url: str) -> None:
    specs = load_spec_files([SHIPPED])
    with session_scope(sqlite_url) as session, pytest.raises(CatalogError) as refused:
        for spec in specs:
            publish_spec(session, spec=spec)
    assert "trigger.segment_entered: unknown segment 'churn_risk'" in str(refused.value)
    assert publish_shipped(sqlite_url) > 0  # segments first, as `journeys up` does


@pytest.mark.slow
async def test_win_back_starts_when_the_clv_fit_puts_a_customer_in_churn_risk(
    skipping_env: WorkflowEnvironment, settings: Settings, catalog: int
) -> None:
    """Orders a year ago, then nothing: the scheduled CLV fit gives a low P(alive), the segment
    refresh tells the customer's workflow it entered churn_risk, and win_back starts; an order
    ends it as converted."""
    client, cid, url = skipping_env.client, f"c-{uuid.uuid4()}", settings.database_url
    now = datetime.now(UTC)
    with session_scope(url) as session:  # the other buyers the models learn from
        insert_orders(session, simulate(customers=300, end=now, seed=2))
    orders = [
        event("Order Completed", order_id=f"{cid}-{n}", total=40).model_copy(
            update={"timestamp": now - timedelta(days=days)}
        )
        for n, days in enumerate((400, 390, 380, 370))
    ]
    async with build_worker(client, settings):
        await send(client, settings, cid, *orders, catalog=catalog)
        # the customer's own evaluation has run (repeat orders long ago: slipping_regulars)
        state = await wait_for(client, cid, lambda s: "slipping_regulars" in s.segments)
        assert state.stage == "loyalty" and "churn_risk" not in state.segments  # no fit yet
        fit = KpiActivities(url).fit_clv(ClvFitInput(as_of=now))
        assert fit.status == "fitted", fit.reason
        with session_scope(url) as session:
            customer = session.get(Customer, cid)
            assert customer is not None and customer.traits["p_alive"] < 0.3
        refresh = SegmentActivities(url, task_queue=settings.task_queue).refresh_segments
        await ActivityEnvironment(client=client).run(refresh, SegmentRefreshInput(as_of=now))
        state = await wait_for(client, cid, lambda s: "win_back" in s.journeys.active)
        assert state.event_counts["Segment Entered"] >= 1
        with session_scope(url) as session:
            segments = [m.segment for m in customer_memberships(session, customer_id=cid)]
        assert "churn_risk" in segments
        await skipping_env.sleep(timedelta(days=8))  # the first two rungs of the ladder
        await send(client, settings, cid, event("Order Completed", order_id="o2"), catalog=catalog)
        run = await finished(skipping_env, journey_workflow_id("win_back", cid, 1))
    assert run.outcome == "converted"
    assert sent(settings, cid, "win_back") == [
        "win_back_whats_new", "win_back_10_off",
    ]  # fmt: skip


async def test_a_quiet_customer_is_at_risk_without_a_win_back_until_the_model_says_so(
    skipping_env: WorkflowEnvironment, settings: Settings, catalog: int
) -> None:
    """The inactivity timer still marks a lapse (`Customer At Risk`, the AtRisk search
    attribute) for every customer, one-time buyers included; win_back waits for churn_risk."""
    client, cid = skipping_env.client, f"c-{uuid.uuid4()}"
    async with build_worker(client, settings):
        await send(client, settings, cid, event("Order Completed", order_id="o1"), catalog=catalog)
        await skipping_env.sleep(timedelta(days=31))  # quiet: at risk
        state = await wait_for(client, cid, lambda s: s.at_risk)
    assert "win_back" not in state.journeys.active and "win_back" not in state.journeys.entries


async def test_welcome_greets_once_and_emails_known_customers(
    skipping_env: WorkflowEnvironment, settings: Settings, catalog: int
) -> None:
    client, known, anonymous = skipping_env.client, f"c-{uuid.uuid4()}", f"c-{uuid.uuid4()}"
    page = lambda: CustomerEvent(  # noqa: E731
        message_id=str(uuid.uuid4()), type="page", name="Home", timestamp=datetime.now(UTC)
    )
    async with build_worker(client, settings):
        await send(
            client, settings, known, identify(email="a@example.com"), page(), catalog=catalog
        )
        await send(client, settings, anonymous, page(), catalog=catalog)
        await finished(skipping_env, journey_workflow_id("welcome", known, 1))
        await finished(skipping_env, journey_workflow_id("welcome", anonymous, 1))
        await send(client, settings, anonymous, page(), catalog=catalog)  # a second visit
        state = await wait_for(client, anonymous, lambda s: len(s.journeys.decisions) == 2)
        asked = await activities_asked(client, journey_workflow_id("welcome", anonymous, 1))
    assert "re-entry: never" in state.journeys.decisions[1].reason
    # the greeting's send took the branch after it and wrote its record: nothing was left to
    # write before the 30-minute wait, so no activity of its own ran for it
    assert asked == ["deliver_message", "deliver_message", "record_journey_events"]
    for cid, case in ((known, "case 1"), (anonymous, "otherwise")):
        assert records(settings, journey_workflow_id("welcome", cid, 1))[:3] == [
            (1, "entered", None, "v1"), (2, "step", "hello", "popover queued"),
            (3, "step", "known", case),
        ]  # fmt: skip
    assert sent(settings, known, "welcome")[:2] == ["welcome_popover", "welcome_email"]
    assert "welcome_email" not in sent(settings, anonymous, "welcome")
    # the run ended at its `exit` step, its end: the sign-up offer still waits for a page
    assert [(t, status) for t, status, _ in popovers(settings, anonymous, "welcome")] == [
        ("welcome_popover", "queued"), ("data_capture_offer", "queued"),
    ]  # fmt: skip


async def test_welcome_reminds_a_visitor_who_browses_after_the_offer_not_before(
    skipping_env: WorkflowEnvironment, settings: Settings, catalog: int
) -> None:
    """The product views of the visit that brought the visitor are no answer to the sign-up
    offer 30 minutes later: they stay with the customer (the run could not take them), and one
    viewed once the run waits after the offer brings the reminder."""
    client, cid = skipping_env.client, f"c-{uuid.uuid4()}"
    run_id = journey_workflow_id("welcome", cid, 1)
    page = CustomerEvent(message_id=str(uuid.uuid4()), type="page", name="Home",
                         timestamp=datetime.now(UTC))  # fmt: skip
    async with build_worker(client, settings):
        await send(client, settings, cid, page, event("Product Viewed"), catalog=catalog)
        await send(client, settings, cid, event("Product Viewed"), catalog=catalog)
        await wait_for(client, cid, lambda s: s.events_total == 3)
        await skipping_env.sleep(timedelta(hours=1))  # settled; the offer queued
        await until_progress(client, run_id, lambda p: p.current_step == "browsing")
        await send(client, settings, cid, event("Product Viewed"), catalog=catalog)
        done = await finished(skipping_env, run_id)
        passed = await events_passed(client, run_id)
    assert passed == ["Product Viewed"]  # the third view alone
    assert [(s.step, s.result) for s in done.steps][-3:] == [
        ("browsing", "event"), ("reminder", "popover queued"), ("done", "welcomed"),
    ]  # fmt: skip
    assert [t for t, _, _ in popovers(settings, cid, "welcome")] == [
        "welcome_popover", "data_capture_offer", "data_capture_reminder",
    ]  # fmt: skip


async def test_b2b_jobs_in_any_order_then_a_sales_hand_off_when_the_group_stalls(
    skipping_env: WorkflowEnvironment, settings: Settings, catalog: int
) -> None:
    client, engaged, stalled = skipping_env.client, f"c-{uuid.uuid4()}", f"c-{uuid.uuid4()}"
    async with build_worker(client, settings):
        # alignment happens before validation: the later wait finds the earlier invite
        await send(client, settings, engaged, event("Account Created"), catalog=catalog)
        await wait_for(client, engaged, lambda s: "b2b_buying_group" in s.journeys.active)
        await send(client, settings, engaged, event("Invite Sent"), event("Case Study Viewed"),
                   catalog=catalog)  # fmt: skip
        await send(client, settings, stalled, event("Account Created"), catalog=catalog)
        run = await finished(skipping_env, journey_workflow_id("b2b_buying_group", engaged, 1))
        lost = await finished(skipping_env, journey_workflow_id("b2b_buying_group", stalled, 1))
    assert sent(settings, engaged, "b2b_buying_group") == [
        "b2b_information_guide", "b2b_roi_calculator", "b2b_stakeholder_deck",
    ]  # fmt: skip
    assert run.steps[-1].result == "enabled"
    assert [(s.step, s.result) for s in lost.steps][-3:] == [
        ("validation", "timeout"), ("stalled", "deadline"), ("lost", "stalled"),
    ]  # fmt: skip


async def test_an_anonymous_customers_run_follows_them_when_they_identify(
    skipping_env: WorkflowEnvironment, settings: Settings, catalog: int
) -> None:
    """Cart recovery started while anonymous: after identify, the purchase (sent as the user)
    still converts that run, and the user cannot be in two cart recoveries at once."""
    client, anon, user = skipping_env.client, f"anon-{uuid.uuid4()}", f"u-{uuid.uuid4()}"
    run_id = journey_workflow_id("cart_recovery", anon, 1)
    identify_user = CustomerEvent(
        message_id=str(uuid.uuid4()), type="identify", timestamp=datetime.now(UTC),
        merge_from=anon,
    )  # fmt: skip
    async with build_worker(client, settings):
        await send(client, settings, anon, event("Checkout Started"), catalog=catalog)
        await wait_for(client, anon, lambda s: "cart_recovery" in s.journeys.active)
        await send(client, settings, user, identify_user, catalog=catalog)
        await wait_for(client, user, lambda s: "cart_recovery" in s.journeys.active)
        await send(client, settings, user, event("Checkout Started"), catalog=catalog)
        state = await wait_for(client, user, lambda s: len(s.journeys.decisions) >= 1)
        assert "already in cart_recovery" in state.journeys.decisions[-1].reason
        await send(client, settings, user, event("Order Completed", order_id="o1"), catalog=catalog)
        await wait_for(client, user, lambda s: "cart_recovery" not in s.journeys.active)
        # still in its first wait, held by the anonymous customer and adopted by the user
        assert await record_becomes(settings, run_id, ("converted", user)) == ("converted", user)


async def test_a_visitor_who_signs_up_as_they_identify_converts_their_welcome_run(
    skipping_env: WorkflowEnvironment, settings: Settings, catalog: int
) -> None:
    """The welcome run started while anonymous; `identify` and `Signed Up` (its goal) come as
    the user at once, before the merge has handed the run over: the goal still counts."""
    client, anon, user = skipping_env.client, f"anon-{uuid.uuid4()}", f"u-{uuid.uuid4()}"
    page = CustomerEvent(
        message_id=str(uuid.uuid4()), type="page", name="Home", timestamp=datetime.now(UTC)
    )
    identify_user = CustomerEvent(
        message_id=str(uuid.uuid4()), type="identify", timestamp=datetime.now(UTC),
        merge_from=anon, traits={"email": "new@example.com"},
    )  # fmt: skip
    async with build_worker(client, settings):
        await send(client, settings, anon, page, catalog=catalog)
        await wait_for(client, anon, lambda s: "welcome" in s.journeys.active)
        await send(client, settings, user, identify_user, event("Signed Up"), catalog=catalog)
        run = await finished(skipping_env, journey_workflow_id("welcome", anon, 1))
    assert run.outcome == "converted"
    assert await record_becomes(
        settings, journey_workflow_id("welcome", anon, 1), ("converted", user)
    ) == ("converted", user)
    # no sign-up offer after the sign-up
    assert "data_capture_offer" not in sent(settings, anon, "welcome")


async def test_a_merge_into_a_customer_already_in_the_journey_ends_the_other_held_run(
    skipping_env: WorkflowEnvironment, settings: Settings, catalog: int
) -> None:
    """Both held in cart recovery's first wait: the user's run stays, the anonymous one ends."""
    client, anon, user = skipping_env.client, f"anon-{uuid.uuid4()}", f"u-{uuid.uuid4()}"
    identify_user = CustomerEvent(
        message_id=str(uuid.uuid4()), type="identify", timestamp=datetime.now(UTC),
        merge_from=anon,
    )  # fmt: skip
    async with build_worker(client, settings):
        for cid in (anon, user):
            await send(client, settings, cid, event("Checkout Started"), catalog=catalog)
            await wait_for(client, cid, lambda s: "cart_recovery" in s.journeys.held)
        await send(client, settings, user, identify_user, catalog=catalog)
        await wait_for(client, user, lambda s: anon in s.merged_from)
        await wait_for(client, anon, lambda s: s.merged_into == user)
        ours, theirs = (journey_workflow_id("cart_recovery", c, 1) for c in (user, anon))
        assert await record_becomes(settings, theirs, ("exited", user)) == ("exited", user)
        assert await record_becomes(settings, ours, ("entered", user)) == (
            "entered",
            user,
        )  # still held, for the user


def _zone_at_local_hour(hour: int) -> str:
    """A fixed-offset zone whose wall clock shows `hour` now (the test server's clock is real)."""
    now = datetime.now(UTC)
    offset = (hour - now.hour) % 24
    offset = offset - 24 if offset > 12 else offset
    return f"Etc/GMT{-offset:+d}" if offset else "UTC"  # Etc/GMT signs are inverted


async def test_an_email_due_at_night_waits_for_the_end_of_quiet_hours(
    skipping_env: WorkflowEnvironment, settings: Settings, catalog: int
) -> None:
    """nps_referral emails at once; for a customer where it is 02:00 it waits until 08:00."""
    settings = settings.model_copy(update={"quiet_hours": "21:00-08:00"})
    client, cid = skipping_env.client, f"c-{uuid.uuid4()}"
    zone = _zone_at_local_hour(2)
    async with build_worker(client, settings):
        await send(client, settings, cid, identify(timezone=zone),
                   event("NPS Submitted", score=8), catalog=catalog)  # fmt: skip
        run = await finished(skipping_env, journey_workflow_id("nps_referral", cid, 1))
    thanks = next(s for s in run.steps if s.step == "thanks")
    assert thanks.at.astimezone(ZoneInfo(zone)).strftime("%H:%M") == "08:00"
    assert sent(settings, cid, "nps_referral") == ["nps_thanks"]
