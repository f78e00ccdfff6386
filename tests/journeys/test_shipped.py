"""The journeys shipped in `journeys/`, along their main paths on the time-skipping server."""

import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from temporalio.testing import WorkflowEnvironment

from cli.specs import load_spec_files
from config.settings import Settings
from store.db import session_scope
from store.journey_runs import customer_messages
from store.journeys import catalog_version, publish_spec
from tests.helpers import wait_for
from tests.workflows.test_journey import event, finished, send
from worker.main import build_worker
from workflows.events import CustomerEvent
from workflows.ids import journey_workflow_id

SHIPPED = Path(__file__).resolve().parents[2] / "journeys"


@pytest.fixture
def settings(sqlite_url: str, task_queue: str) -> Settings:
    # quiet hours off: the time-skipping server starts at the real time of day
    return Settings(
        database_url=sqlite_url, task_queue=task_queue, inactivity_days=30, quiet_hours=""
    )


@pytest.fixture
def catalog(settings: Settings) -> int:
    specs = load_spec_files([SHIPPED])
    with session_scope(settings.database_url) as session:
        for spec in specs:
            publish_spec(session, spec=spec)
        return catalog_version(session)


def identify(**traits: object) -> CustomerEvent:
    return CustomerEvent(
        message_id=str(uuid.uuid4()), type="identify", timestamp=datetime.now(UTC), traits=traits
    )


def sent(settings: Settings, cid: str, journey: str) -> list[str]:
    """The templates `journey` queued for the customer, in order."""
    with session_scope(settings.database_url) as session:
        messages = customer_messages(session, customer_id=cid)
    return [m.template for m in messages if m.journey == journey]


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


async def test_cart_recovery_exits_when_the_cart_is_emptied(
    skipping_env: WorkflowEnvironment, settings: Settings, catalog: int
) -> None:
    client, cid = skipping_env.client, f"c-{uuid.uuid4()}"
    async with build_worker(client, settings):
        await send(client, settings, cid, event("Checkout Started"), catalog=catalog)
        await wait_for(client, cid, lambda s: "cart_recovery" in s.journeys.active)
        await send(client, settings, cid, event("Cart Emptied"), catalog=catalog)
        run = await finished(skipping_env, journey_workflow_id("cart_recovery", cid, 1))
    assert run.outcome == "exited" and sent(settings, cid, "cart_recovery") == []


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
        if used:
            await skipping_env.sleep(timedelta(days=3))
            await send(client, settings, cid, event("Application Opened"), catalog=catalog)
        run = await finished(skipping_env, journey_workflow_id("post_purchase", cid, 1))
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


async def test_win_back_starts_when_a_customer_lapses_and_stops_at_the_order(
    skipping_env: WorkflowEnvironment, settings: Settings, catalog: int
) -> None:
    client, cid = skipping_env.client, f"c-{uuid.uuid4()}"
    async with build_worker(client, settings):
        await send(client, settings, cid, event("Order Completed", order_id="o1"), catalog=catalog)
        await skipping_env.sleep(timedelta(days=31))  # quiet: at risk
        state = await wait_for(client, cid, lambda s: "win_back" in s.journeys.active)
        assert state.at_risk
        await skipping_env.sleep(timedelta(days=8))  # the first two rungs of the ladder
        await send(client, settings, cid, event("Order Completed", order_id="o2"), catalog=catalog)
        run = await finished(skipping_env, journey_workflow_id("win_back", cid, 1))
    assert run.outcome == "converted"
    assert sent(settings, cid, "win_back") == [
        "win_back_whats_new", "win_back_10_off",
    ]  # fmt: skip


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
    assert "re-entry: never" in state.journeys.decisions[1].reason
    assert sent(settings, known, "welcome")[:2] == ["welcome_popover", "welcome_email"]
    assert "welcome_email" not in sent(settings, anonymous, "welcome")


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
        run = await finished(skipping_env, run_id)
        state = await wait_for(client, user, lambda s: "cart_recovery" not in s.journeys.active)
    assert run.outcome == "converted" and run.customer_id == user


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
