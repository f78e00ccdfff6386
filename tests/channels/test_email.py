"""Email through a real SMTP server (aiosmtpd on a free loopback port): sent once, with the
headers mail clients need, skipped for the unsubscribed, failed (not retried) when refused."""

from datetime import date, timedelta
from html import escape
from typing import Any
from urllib.parse import urlencode

import httpx
import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult
from temporalio.exceptions import ApplicationError
from temporalio.testing import ActivityEnvironment

from journeys.activities.channels import ChannelActivities
from journeys.api.app import create_app
from journeys.channels import consent
from journeys.channels.consent import unsubscribe_url
from journeys.channels.email import message_id
from journeys.channels.templates import load_templates
from journeys.store.consent import suppress
from journeys.store.customers import upsert_traits
from journeys.store.db import session_scope
from journeys.store.models import Message
from journeys.vocabulary.journey_types import QueueMessageInput
from tests.helpers.ports import free_port
from tests.helpers.smtp import Inbox, serve, settings_for


def send_input(key: str = "journey-cart-c1-1:email:1", customer: str = "c1") -> QueueMessageInput:
    return QueueMessageInput(
        idempotency_key=key, customer_id=customer, journey="cart_recovery", step="email",
        channel="email", template="cart_recovery_email", fallback="push",
        context={"properties": {"value": 42}},
    )  # fmt: skip


def known_customer(url: str, **traits: Any) -> None:
    with session_scope(url) as session:
        upsert_traits(session, customer_id="c1", traits=traits)


async def test_an_email_is_sent_once_with_unsubscribe_headers(
    inbox: tuple[Inbox, int], sqlite_url: str
) -> None:
    box, port = inbox
    settings = settings_for(sqlite_url, port)
    known_customer(sqlite_url, email="ann@example.test", first_name="Ann")
    channels = ChannelActivities(settings, load_templates())
    env = ActivityEnvironment()
    first = env.run(channels.deliver_message, send_input())
    again = env.run(channels.deliver_message, send_input())  # a retried activity
    assert (first.status, again.status) == ("sent", "sent")
    [mail] = box.messages
    assert mail["To"] == "ann@example.test" and "cart" in mail["Subject"]
    assert mail["Message-ID"] == message_id("journey-cart-c1-1:email:1", "shop.test")
    link = unsubscribe_url("http://shop.test", "sign-me", "c1", "email", "offers")
    assert mail["List-Unsubscribe"] == f"<{link}>"
    assert mail["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    text = next(p for p in mail.walk() if p.get_content_type() == "text/plain")
    assert "Hi Ann" in text.get_payload(decode=True).decode() and "42 USD" in str(
        text.get_payload(decode=True)
    )
    with session_scope(sqlite_url) as session:
        assert session.get(Message, "journey-cart-c1-1:email:1").status == "sent"  # type: ignore[union-attr]


async def test_unsubscribed_or_no_address_is_skipped_with_the_reason(
    inbox: tuple[Inbox, int], sqlite_url: str
) -> None:
    box, port = inbox
    settings = settings_for(sqlite_url, port)
    channels = ChannelActivities(settings, load_templates())
    env = ActivityEnvironment()
    result = env.run(channels.deliver_message, send_input(key="k1"))
    assert (result.status, result.reason) == ("skipped", "no email address")
    known_customer(sqlite_url, email="ann@example.test")
    with session_scope(sqlite_url) as session:
        suppress(session, customer_id="c1", channel="email", reason="unsubscribed")
    result = env.run(channels.deliver_message, send_input(key="k2"))
    assert (result.status, result.reason) == ("skipped", "unsubscribed")
    assert not result.allows_fallback
    assert box.messages == []


async def test_a_refused_recipient_fails_for_good(sqlite_url: str) -> None:
    with serve(Inbox(refuse=True)) as (_, port):
        known_customer(sqlite_url, email="nobody@example.test")
        channels = ChannelActivities(settings_for(sqlite_url, port), load_templates())
        result = ActivityEnvironment().run(channels.deliver_message, send_input())
    assert result.status == "failed" and "refused" in result.reason


async def test_the_unsubscribe_link_leaves_the_topic_and_a_forged_one_is_refused(
    inbox: tuple[Inbox, int], sqlite_url: str
) -> None:
    settings = settings_for(sqlite_url, inbox[1])
    app = create_app(settings, client=object())  # type: ignore[arg-type]
    link = unsubscribe_url("http://api", "sign-me", "c1", "email", "offers")
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://api"
    ) as c:
        forged = link.replace("c=c1", "c=c2")
        assert (await c.get(forged)).status_code == 403
        other_topic = link.replace("tp=offers", "tp=newsletter")
        assert (await c.get(other_topic)).status_code == 403
        r = await c.post(link, content=b"List-Unsubscribe=One-Click")
        assert r.status_code == 200
        all_email = unsubscribe_url("http://shop.test", "sign-me", "c1", "email")
        assert f'href="{escape(all_email)}"' in r.text  # the page offers the whole channel
    known_customer(sqlite_url, email="ann@example.test")
    channels = ChannelActivities(settings, load_templates())
    env = ActivityEnvironment()
    result = env.run(channels.deliver_message, send_input())
    assert result.reason == "unsubscribed from offers on email"
    newsletter = send_input(key="k-news").model_copy(update={"template": "welcome_email"})
    assert env.run(channels.deliver_message, newsletter).status == "sent"
    assert [m["Subject"] for m in inbox[0].messages] == ["Welcome, there"]


async def test_an_unsubscribe_link_expires_and_its_date_cannot_be_stretched(
    inbox: tuple[Inbox, int], sqlite_url: str
) -> None:
    settings = settings_for(sqlite_url, inbox[1])
    app = create_app(settings, client=object())  # type: ignore[arg-type]
    long_ago = date.today() - timedelta(days=400)
    old = unsubscribe_url("http://api", "sign-me", "c1", "email", "offers", today=long_ago)
    expired_on = (long_ago + timedelta(days=365)).isoformat()
    assert f"e={expired_on}" in old
    legacy = "http://api/v1/unsubscribe?" + urlencode(
        {
            "c": "c1",
            "ch": "email",
            "tp": "offers",
            "t": consent.token("sign-me", "c1", "email", "offers"),
        }
    )  # sent before links had a date
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://api"
    ) as c:
        gone = await c.get(old)
        stretched = await c.get(old.replace(f"e={expired_on}", f"e={date.today().year + 1}-01-01"))
        undated = await c.get(old.replace(f"e={expired_on}&", ""))
        assert (await c.get(legacy)).status_code == 200
    assert gone.status_code == 410
    assert f"expired on {expired_on}" in gone.json()["error"]
    assert stretched.status_code == 403 and undated.status_code == 403


async def test_a_refused_login_is_retried_not_failed(sqlite_url: str) -> None:
    """A wrong SMTP password fails every message until it is fixed: each send stays due
    (the activity raises, Temporal retries) instead of being marked failed for good."""
    box = Inbox()
    port = free_port()
    refuse_all = lambda *args: AuthResult(success=False, handled=False)  # noqa: E731
    controller = Controller(box, hostname="127.0.0.1", port=port, auth_require_tls=False,
                            authenticator=refuse_all)  # fmt: skip
    controller.start()
    try:
        known_customer(sqlite_url, email="ann@example.test")
        settings = settings_for(sqlite_url, port).model_copy(
            update={"smtp_username": "shop", "smtp_password": "wrong"}
        )
        channels = ChannelActivities(settings, load_templates())
        with pytest.raises(ApplicationError) as raised:
            ActivityEnvironment().run(channels.deliver_message, send_input())
        assert not raised.value.non_retryable and "535" in str(raised.value)
    finally:
        controller.stop()
    with session_scope(sqlite_url) as session:
        row = session.get(Message, "journey-cart-c1-1:email:1")
    assert row is not None and row.status != "failed"
    assert box.messages == []
