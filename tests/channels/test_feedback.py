"""Delivery feedback: an email sent through a real SMTP server carries tracked links and an open
pixel; fetching them through the API records `Email Opened` / `Email Link Clicked` for the
customer's workflow, a machine's (privacy proxy, link scanner, too soon) marked as such;
providers' reports are authenticated, applied once, and a hard bounce suppresses the channel."""

import asyncio
import re
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from email.message import Message as MailMessage
from typing import Any

import httpx
import pytest
import pytest_asyncio
from sqlmodel import select
from temporalio.client import WorkflowExecutionStatus
from temporalio.testing import ActivityEnvironment, WorkflowEnvironment

from journeys.activities.channels import ChannelActivities
from journeys.api.app import create_app
from journeys.channels import tracking
from journeys.channels.consent import unsubscribe_url
from journeys.channels.templates import Email, Template
from journeys.config.settings import Settings
from journeys.store.customers import upsert_traits
from journeys.store.db import session_scope
from journeys.store.kpis import RunFilter
from journeys.store.models import Event, Message, Suppression
from journeys.store.reports import journey_report
from journeys.vocabulary.ids import journey_workflow_id
from journeys.vocabulary.journey_types import JourneyProgress, QueueMessageInput
from journeys.worker.main import build_worker
from tests.helpers.events import event, identify
from tests.helpers.journeys import publish, send
from tests.helpers.smtp import Inbox, settings_for
from tests.helpers.temporal import wait_for

PROVIDER_SECRET, SMS_TOKEN = "provider-secret", "sms-token"
SAFARI = ("Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like"
          " Gecko) Version/17.4 Safari/605.1.15")  # fmt: skip
TEMPLATES = {
    "cart_links": Template(
        email=Email(
            subject="Your cart",
            text="Your cart: https://shop.test/cart\nUnsubscribe: {{ unsubscribe_url }}",
            html='<html><body><p><a href="https://shop.test/cart?c={{ customer_id }}&x=1">'
            'Cart</a> <a href="mailto:help@shop.test">Help</a></p>'
            '<p><a href="{{ unsubscribe_url }}">Unsubscribe</a></p></body></html>',
        )
    )
}


@pytest.fixture
def settings(inbox: tuple[Inbox, int], sqlite_url: str, task_queue: str) -> Settings:
    return settings_for(sqlite_url, inbox[1]).model_copy(
        update={
            "task_queue": task_queue,
            "provider_webhook_secret": PROVIDER_SECRET,
            "sms_provider_token": SMS_TOKEN,
        }
    )


@pytest_asyncio.fixture(loop_scope="session")
async def api(dev_env: WorkflowEnvironment, settings: Settings) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(settings, client=dev_env.client)
    async with build_worker(dev_env.client, settings):
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://shop.test"
        ) as c:
            yield c


async def offline_api(settings: Settings) -> httpx.AsyncClient:
    """The API without Temporal: for requests that must be refused before reaching it."""
    app = create_app(settings, client=object())  # type: ignore[arg-type]
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://shop.test")


def send_email(settings: Settings, customer: str, key: str) -> str:
    with session_scope(settings.database_url) as session:
        upsert_traits(session, customer_id=customer, traits={"email": "ann@example.test"})
    channels = ChannelActivities(settings, TEMPLATES)
    result = ActivityEnvironment().run(channels.deliver_message, QueueMessageInput(
        idempotency_key=key, customer_id=customer, journey="cart_recovery", step="email",
        channel="email", template="cart_links", context={},
    ))  # fmt: skip
    return result.status


def html_of(mail: MailMessage) -> str:
    part = next(p for p in mail.walk() if p.get_content_type() == "text/html")
    return part.get_payload(decode=True).decode()  # type: ignore[union-attr]


def text_of(mail: MailMessage) -> str:
    part = next(p for p in mail.walk() if p.get_content_type() == "text/plain")
    return part.get_payload(decode=True).decode()  # type: ignore[union-attr]


def events(settings: Settings, customer: str) -> list[Event]:
    with session_scope(settings.database_url) as session:
        return list(session.exec(select(Event).where(Event.customer_id == customer)))


def provider(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def test_a_sent_email_has_tracked_links_and_an_open_pixel(
    inbox: tuple[Inbox, int], settings: Settings
) -> None:
    box, _ = inbox
    assert send_email(settings, "c1", "run-1:email:1") == "sent"
    [mail] = box.messages
    html = html_of(mail)
    clicks = re.findall(r'href="http://shop\.test/v1/t/c/([^"]+)"', html)
    [token] = clicks  # the cart link; mailto: and unsubscribe stay as they were
    link = tracking.read_token("sign-me", token, tracking.CLICK)
    assert link.url == "https://shop.test/cart?c=c1&x=1"
    assert link.send == tracking.SendIdentity(
        "c1", "run-1:email:1", "cart_recovery", "email", "cart_links"
    )
    assert link.expires_at - datetime.now(UTC) > timedelta(days=89)
    assert 'href="mailto:help@shop.test"' in html
    unsubscribe = unsubscribe_url("http://shop.test", "sign-me", "c1", "email")
    assert f'href="{unsubscribe.replace("&", "&amp;")}"' in html
    assert re.search(r'<img src="http://shop\.test/v1/t/o/[^"]+\.gif"[^>]*/></body>', html)
    assert "https://shop.test/cart" in text_of(mail) and "/v1/t/" not in text_of(mail)


async def test_the_pixel_and_a_click_reach_the_customer_workflow_once(
    api: httpx.AsyncClient, dev_env: WorkflowEnvironment, inbox: tuple[Inbox, int],
    settings: Settings,
) -> None:  # fmt: skip
    box, _ = inbox
    customer = f"c-{uuid.uuid4()}"
    send_email(settings, customer, f"run-{customer}:email:1")
    html = html_of(box.messages[0])
    pixel = re.search(r'<img src="http://shop\.test(/v1/t/o/[^"]+)"', html).group(1)  # type: ignore[union-attr]
    click = re.search(r'href="http://shop\.test(/v1/t/c/[^"]+)"', html).group(1)  # type: ignore[union-attr]
    for _ in range(2):  # a mail client loads the pixel again; a person clicks twice
        r = await api.get(pixel)
        assert r.status_code == 200 and r.headers["content-type"] == "image/gif"
        assert "no-store" in r.headers["cache-control"] and r.content.startswith(b"GIF89a")
        r = await api.get(click)
        assert r.status_code == 302
        assert r.headers["location"] == f"https://shop.test/cart?c={customer}&x=1"
    state = await wait_for(dev_env.client, customer, lambda s: s.events_total == 2)
    assert state.event_counts == {"Email Opened": 1, "Email Link Clicked": 1}
    stored = {e.event: e for e in events(settings, customer)}
    assert set(stored) == {"Email Opened", "Email Link Clicked"}
    clicked = stored["Email Link Clicked"].payload["properties"]
    assert clicked == {
        "channel": "email", "journey": "cart_recovery", "step": "email",
        "template": "cart_links", "message_id": f"run-{customer}:email:1",
        "url": f"https://shop.test/cart?c={customer}&x=1",
        "machine": "link_scanner",  # an HTTP library, a second after the send
    }  # fmt: skip
    assert all(e.delivered_at is not None for e in stored.values())
    assert "ann@example.test" not in str([e.payload for e in stored.values()])


async def test_a_tampered_or_expired_link_is_refused_and_recorded_nowhere(
    settings: Settings,
) -> None:
    sent = tracking.SendIdentity("c1", "run-1:email:1", "cart_recovery", "email", "cart_links")
    later, past = datetime.now(UTC) + timedelta(days=1), datetime.now(UTC) - timedelta(seconds=1)
    good = tracking.make_token("sign-me", tracking.CLICK, sent, later, "https://shop.test/")
    evil = tracking.make_token("sign-me", tracking.CLICK, sent, later, "https://evil.test/")
    forged = evil.split(".")[0] + "." + good.split(".")[1]
    other_key = tracking.make_token("other", tracking.CLICK, sent, later, "https://evil.test/")
    expired = tracking.make_token("sign-me", tracking.CLICK, sent, past, "https://shop.test/")
    an_open = tracking.make_token("sign-me", tracking.OPEN, sent, later)
    async with await offline_api(settings) as api:
        for token in (forged, other_key, an_open, good[:-2], "nonsense"):
            r = await api.get(f"/v1/t/c/{token}")
            assert r.status_code == 403 and "location" not in r.headers, token
            assert r.json()["errors"][0]["field"] == "token"
        r = await api.get(f"/v1/t/c/{expired}")
        assert r.status_code == 410 and "location" not in r.headers
        assert "expired" in r.json()["errors"][0]["reason"]
        # a bad pixel still renders: mail must never show a broken image
        r = await api.get(f"/v1/t/o/{forged}.gif")
        assert r.status_code == 200 and r.headers["content-type"] == "image/gif"
    assert events(settings, "c1") == []


async def test_a_hard_bounce_suppresses_the_channel_and_the_next_send_is_skipped(
    api: httpx.AsyncClient, dev_env: WorkflowEnvironment, settings: Settings
) -> None:
    customer = f"c-{uuid.uuid4()}"
    key = f"run-{customer}:email:1"
    assert send_email(settings, customer, key) == "sent"
    report = {"idempotency_key": key, "status": "bounced",
              "reason": "550 5.1.1 <ann@example.test>: no such user", "permanent": True,
              "provider_field": "ignored"}  # fmt: skip
    r = await api.post("/v1/providers/email/events", json=report, headers=provider(PROVIDER_SECRET))
    assert r.status_code == 200, r.text
    with session_scope(settings.database_url) as session:
        suppression = session.get(Suppression, (customer, "email"))
        assert suppression is not None and suppression.reason == "bounced"
        assert session.get(Message, key).outcome == "bounced"  # the ledger says so, not "sent" only
    late = {"idempotency_key": key, "status": "delivered"}  # a late, weaker word
    r = await api.post("/v1/providers/email/events", json=late, headers=provider(PROVIDER_SECRET))
    assert r.status_code == 200
    with session_scope(settings.database_url) as session:
        row = session.get(Message, key)
        assert row.status == "sent" and row.outcome == "bounced" and row.outcome_at is not None
    assert send_email(settings, customer, f"run-{customer}:email:2") == "skipped"
    state = await wait_for(dev_env.client, customer, lambda s: s.events_total == 2)
    assert state.event_counts == {"Email Bounced": 1, "Email Delivered": 1}
    [bounced] = [e for e in events(settings, customer) if e.event == "Email Bounced"]
    properties = bounced.payload["properties"]
    assert properties["reason"] == "550 5.1.1 <[address]>: no such user"
    assert properties["permanent"] is True and properties["message_id"] == key


async def test_a_repeated_report_is_applied_once(
    api: httpx.AsyncClient, dev_env: WorkflowEnvironment, settings: Settings
) -> None:
    customer = f"c-{uuid.uuid4()}"
    key = f"run-{customer}:email:1"
    send_email(settings, customer, key)
    delivered = {"idempotency_key": key, "status": "delivered"}
    for _ in range(3):  # the provider retries its webhook
        r = await api.post("/v1/providers/email/events", json=[delivered, delivered],
                           headers=provider(PROVIDER_SECRET))  # fmt: skip
        assert r.status_code == 200, r.text
    soft = {"idempotency_key": key, "status": "bounced", "permanent": False}
    r = await api.post("/v1/providers/email/events", json=soft, headers=provider(PROVIDER_SECRET))
    assert r.status_code == 200
    state = await wait_for(dev_env.client, customer, lambda s: s.events_total == 2)
    assert state.event_counts == {"Email Delivered": 1, "Email Bounced": 1}
    assert sorted(e.event or "" for e in events(settings, customer)) == [
        "Email Bounced", "Email Delivered",
    ]  # fmt: skip
    with session_scope(settings.database_url) as session:
        assert session.get(Suppression, (customer, "email")) is None  # a soft bounce


@pytest.mark.parametrize(
    ("channel", "headers"),
    [
        ("email", {}),
        ("email", provider("wrong")),
        ("email", provider(SMS_TOKEN)),  # the SMS provider's token speaks for SMS only
        ("sms", {"Authorization": f"Basic {SMS_TOKEN}"}),
    ],
)
async def test_a_report_without_the_provider_token_is_refused(
    settings: Settings, channel: str, headers: dict[str, str]
) -> None:
    body: dict[str, Any] = {"idempotency_key": "run-1:email:1", "status": "bounced"}
    async with await offline_api(settings) as api:
        r = await api.post(f"/v1/providers/{channel}/events", json=body, headers=headers)
    assert r.status_code == 401 and r.headers["www-authenticate"] == "Bearer"
    with session_scope(settings.database_url) as session:
        assert list(session.exec(select(Suppression))) == []


async def test_unknown_keys_and_bad_fields_are_refused_with_the_field(
    settings: Settings,
) -> None:
    send_email(settings, "c1", "run-1:email:1")
    async with await offline_api(settings) as api:
        post = api.post
        r = await post("/v1/providers/sms/events", headers=provider(SMS_TOKEN),
                       json={"idempotency_key": "nope", "status": "delivered"})  # fmt: skip
        assert r.status_code == 404
        assert r.json()["errors"] == [
            {"field": "idempotency_key", "reason": "no sms message has this key"}
        ]
        # an email's key reported as SMS is unknown too: a provider speaks for its channel
        r = await post("/v1/providers/sms/events", headers=provider(SMS_TOKEN),
                       json={"idempotency_key": "run-1:email:1", "status": "bounced"})  # fmt: skip
        assert r.status_code == 404
        r = await post("/v1/providers/email/events", headers=provider(PROVIDER_SECRET),
                       json=[{"idempotency_key": "run-1:email:1", "status": "lost"},
                             {"status": "delivered", "permanent": "maybe"}])  # fmt: skip
        assert r.status_code == 400
        fields = {e["field"] for e in r.json()["errors"]}
        assert fields == {"[0].status", "[1].idempotency_key", "[1].permanent"}
        r = await post("/v1/providers/sms/events", headers=provider(SMS_TOKEN),
                       json={"idempotency_key": "k", "status": "opened"})  # fmt: skip
        assert r.status_code == 400 and r.json()["errors"][0]["field"] == "status"
    assert events(settings, "c1") == []


OPENED = """
name: opened_feedback
trigger: {event: Signed Up}
steps:
  - {id: mail, kind: send, channel: email, template: cart_recovery_email}
  - id: opened
    kind: wait_for_event
    event: Email Opened
    where: not properties.machine
    timeout: 1d
    on_event: engaged
  - {id: ignored, kind: exit, reason: ignored}
  - {id: engaged, kind: exit, reason: opened}
"""


async def test_a_journey_waiting_for_email_opened_takes_its_event_branch(
    api: httpx.AsyncClient, dev_env: WorkflowEnvironment, inbox: tuple[Inbox, int],
    settings: Settings,
) -> None:  # fmt: skip
    box, customer = inbox[0], f"c-{uuid.uuid4()}"
    catalog = publish(settings, OPENED)
    await send(dev_env.client, settings, customer, identify(email="ann@example.test"),
               event("Signed Up"), catalog=catalog)  # fmt: skip
    for _ in range(300):
        if box.messages:
            break
        await asyncio.sleep(0.1)
    pixel = re.search(r'<img src="http://shop\.test(/v1/t/o/[^"]+)"', html_of(box.messages[0]))
    assert pixel is not None
    # Apple's proxy fetches the image as the mail arrives: recorded, but the journey waits on
    assert (await api.get(pixel.group(1), headers={"user-agent": "Mozilla/5.0"})).status_code == 200
    state = await wait_for(dev_env.client, customer, lambda s: "Email Opened" in s.event_counts)
    assert state.event_counts["Email Opened"] == 1
    handle = dev_env.client.get_workflow_handle(journey_workflow_id("opened_feedback", customer, 1))
    await asyncio.sleep(1)  # the run had its chance to take the signal
    waiting = JourneyProgress.model_validate(await handle.query("progress"))
    assert [s.step for s in waiting.steps] == ["mail"], waiting.steps  # still at `opened`
    assert (await handle.describe()).status == WorkflowExecutionStatus.RUNNING
    # the person opens it an hour later, in Safari
    send_of = tracking.read_token("sign-me", pixel.group(1)[len("/v1/t/o/") : -4], tracking.OPEN)
    hour_ago = datetime.now(UTC) + timedelta(days=tracking.TOKEN_DAYS, hours=-1)
    later = tracking.make_token("sign-me", tracking.OPEN, send_of.send, hour_ago)
    person = await api.get(f"/v1/t/o/{later}.gif", headers={"user-agent": SAFARI})
    assert person.status_code == 200
    done = JourneyProgress.model_validate(await asyncio.wait_for(handle.result(), 30))
    assert [s.step for s in done.steps] == ["mail", "opened", "engaged"], done.steps
    opens = [e.payload["properties"] for e in events(settings, customer)
             if e.event == "Email Opened"]  # fmt: skip
    assert sorted(str(o.get("machine")) for o in opens) == ["None", "privacy_proxy"]
    with session_scope(settings.database_url) as session:  # the ledger row knows both
        row = session.get(Message, send_of.send.idempotency_key)
        assert row is not None and row.opened_at and row.machine_opened_at
        assert row.opened_at > row.machine_opened_at and row.clicked_at is None
        report = journey_report(session, name="opened_feedback", runs=RunFilter())
    assert report is not None
    [mail] = report.engagement  # the journey's figures count the two apart
    assert (mail.step, mail.sent, mail.opened.conversions, mail.machine_opened) == ("mail", 1, 1, 1)
    assert mail.opened.rate == 1.0 and mail.opened.low < 1.0 and mail.clicked.conversions == 0
