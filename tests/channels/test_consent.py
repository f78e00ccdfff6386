"""Consent and volume: subscription groups (channel x topic, opt-in and opt-out), transactional
messages, hard suppressions and frequency caps, through real delivery (aiosmtpd, a loopback
HTTP provider) and the admin routes."""

import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from temporalio.testing import ActivityEnvironment

from journeys.activities.channels import ChannelActivities
from journeys.api.app import create_app
from journeys.channels.templates import load_templates
from journeys.config.settings import Settings
from journeys.store.consent import set_subscription, suppress
from journeys.store.customers import upsert_traits
from journeys.store.db import session_scope
from journeys.store.models import Message
from journeys.vocabulary.journey_types import DeliveryResult, QueueMessageInput
from tests.helpers.http import Provider, provider
from tests.helpers.smtp import Inbox, settings_for

ADMIN = {"Authorization": "Bearer admin-key"}


@pytest.fixture
def sms() -> Iterator[Provider]:
    with provider() as p:
        yield p


@pytest.fixture
def channels(settings: Settings, sms: Provider) -> ChannelActivities:
    settings = settings.model_copy(update={"sms_provider_url": sms.url})
    with session_scope(settings.database_url) as session:
        upsert_traits(session, customer_id="c1",
                      traits={"email": "ann@example.test", "phone": "+15550100"})  # fmt: skip
    return ChannelActivities(settings, load_templates())


@pytest.fixture
def api(settings: Settings) -> httpx.AsyncClient:
    """The API with an admin key (no Temporal: these routes only touch the store)."""
    app = create_app(settings.model_copy(update={"admin_key": "admin-key"}), client=object())  # type: ignore[arg-type]
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://api")


def deliver(
    channels: ChannelActivities, template: str, channel: str = "email", key: str = ""
) -> DeliveryResult:
    message = QueueMessageInput(
        idempotency_key=key or f"run:{template}:{channel}", customer_id="c1", journey="j",
        step="s", channel=channel, template=template,
    )  # fmt: skip
    return ActivityEnvironment().run(channels.deliver_message, message)


def subscribe(url: str, channel: str, topic: str, subscribed: bool) -> None:
    with session_scope(url) as session:
        set_subscription(session, customer_id="c1", channel=channel, topic=topic,
                         subscribed=subscribed, source="test")  # fmt: skip


def test_leaving_a_topic_keeps_the_others_and_the_most_specific_word_wins(
    channels: ChannelActivities, settings: Settings, inbox: tuple[Inbox, int]
) -> None:
    subscribe(settings.database_url, "email", "offers", False)
    left = deliver(channels, "win_back_10_off")
    assert (left.status, left.reason) == ("skipped", "unsubscribed from offers on email")
    assert deliver(channels, "welcome_email").status == "sent"  # newsletter: still subscribed
    subscribe(settings.database_url, "*", "*", False)  # leaves everything ...
    assert deliver(channels, "getting_started_tips").reason == "unsubscribed from all"
    subscribe(settings.database_url, "email", "newsletter", True)  # ... but this one group
    assert deliver(channels, "usage_nudge").status == "sent"
    assert len(inbox[0].messages) == 2


def test_opt_in_groups_reach_only_customers_who_joined(
    channels: ChannelActivities, settings: Settings, sms: Provider
) -> None:
    first = deliver(channels, "cart_recovery_sms", "sms", key="k1")
    assert (first.status, first.reason) == ("skipped", "not opted in to offers on sms")
    assert not first.allows_fallback and sms.requests == []
    subscribe(settings.database_url, "sms", "offers", True)
    assert deliver(channels, "cart_recovery_sms", "sms", key="k2").status == "sent"
    assert len(sms.requests) == 1


def test_transactional_messages_ignore_groups_and_caps_but_not_suppressions(
    channels: ChannelActivities, settings: Settings, inbox: tuple[Inbox, int]
) -> None:
    channels.settings = settings.model_copy(update={"frequency_caps": "email:1/1d"})
    subscribe(settings.database_url, "*", "*", False)
    assert deliver(channels, "order_thanks", key="t1").status == "sent"
    assert deliver(channels, "order_thanks", key="t2").status == "sent"
    with session_scope(settings.database_url) as session:
        suppress(session, customer_id="c1", channel="email", reason="bounced")
    blocked = deliver(channels, "order_thanks", key="t3")
    assert (blocked.status, blocked.reason) == ("skipped", "bounced")
    assert blocked.allows_fallback  # a bad address: another channel may still reach them
    assert len(inbox[0].messages) == 2


def test_a_frequency_cap_counts_marketing_sends_in_a_sliding_window(
    channels: ChannelActivities, settings: Settings, inbox: tuple[Inbox, int]
) -> None:
    channels.settings = settings.model_copy(update={"frequency_caps": "email:2/7d"})
    assert deliver(channels, "welcome_email", key="m1").status == "sent"
    assert deliver(channels, "order_thanks", key="t1").status == "sent"  # not counted
    assert deliver(channels, "win_back_10_off", key="m2").status == "sent"
    capped = deliver(channels, "win_back_20_off", key="m3")
    assert capped.status == "skipped" and capped.reason == "frequency cap: 2 email per 7 days"
    assert not capped.allows_fallback
    assert deliver(channels, "win_back_10_off", key="m2").status == "sent"  # a retry: no change
    with session_scope(settings.database_url) as session:  # the first send leaves the window
        first = session.get(Message, "m1")
        assert first is not None
        first.sent_at = datetime.now(UTC) - timedelta(days=8)
        session.add(first)
    assert deliver(channels, "win_back_20_off", key="m4").status == "sent"
    assert len(inbox[0].messages) == 4


def test_a_bad_cap_setting_names_the_variable() -> None:
    with pytest.raises(ValueError, match="frequency_caps") as err:
        Settings(frequency_caps="email:3")
    assert "email:3/7d" in str(err.value)


async def test_services_record_consent_through_the_admin_routes(
    api: httpx.AsyncClient, channels: ChannelActivities
) -> None:
    route = "/v1/customers/c1/subscriptions"
    async with api as c:
        assert (await c.get(route)).status_code == 401
        change = {"channel": "sms", "topic": "offers", "subscribed": True}
        assert (await c.put(route, json=change)).status_code == 401
        r = await c.put(route, json=change, headers=ADMIN)
        assert r.status_code == 200 and r.json()["source"] == "api"
        for bad, field in [({**change, "topic": "spam"}, "topic"),
                           ({**change, "channel": "fax"}, "channel"),
                           ({"channel": "sms"}, "subscribed")]:  # fmt: skip
            r = await c.put(route, json=bad, headers=ADMIN)
            assert r.status_code == 400 and r.json()["errors"][0]["field"] == field, r.json()
        r = await c.get(route, headers=ADMIN)
    body = r.json()
    assert [(s["channel"], s["topic"], s["subscribed"]) for s in body["subscriptions"]] == [
        ("sms", "offers", True)
    ]
    assert body["topics"]["offers"]["opt_in"] == ["sms"]
    assert deliver(channels, "cart_recovery_sms", "sms").status == "sent"


async def test_operators_block_and_unblock_a_channel_even_for_transactional_mail(
    api: httpx.AsyncClient, channels: ChannelActivities, inbox: tuple[Inbox, int]
) -> None:
    route = "/v1/customers/c1/suppressions"
    async with api as c:
        assert (await c.put(f"{route}/*", json={})).status_code == 401
        assert (await c.delete(f"{route}/*")).status_code == 401
        r = await c.put(f"{route}/fax", json={}, headers=ADMIN)
        assert r.status_code == 400 and r.json()["errors"][0]["field"] == "channel"
        r = await c.put(f"{route}/*", json={"reason": "legal request"}, headers=ADMIN)
        assert r.status_code == 200
        blocked = deliver(channels, "order_thanks", key="t1")
        assert (blocked.status, blocked.reason) == ("skipped", "legal request")
        listed = (await c.get("/v1/customers/c1/subscriptions", headers=ADMIN)).json()
        assert [(s["channel"], s["reason"]) for s in listed["suppressions"]] == [
            ("*", "legal request")
        ]
        assert (await c.delete(f"{route}/*", headers=ADMIN)).status_code == 204
        assert (await c.delete(f"{route}/*", headers=ADMIN)).status_code == 404
    assert deliver(channels, "order_thanks", key="t2").status == "sent"
    assert len(inbox[0].messages) == 1


def test_journeys_sending_at_once_to_a_capped_customer_send_only_the_cap(
    database_url: str, inbox: tuple[Inbox, int]
) -> None:
    """Six journeys' sends to one customer at the same moment, a cap of one email a week: one
    goes, five are skipped, whatever the store. On PostgreSQL the customer's row lock makes
    them count one after the other; on SQLite the second writer fails and, as Temporal would,
    its activity is tried again."""
    settings = settings_for(database_url, inbox[1]).model_copy(
        update={"frequency_caps": "email:1/7d"}
    )
    with session_scope(database_url) as session:
        upsert_traits(session, customer_id="c1", traits={"email": "ann@example.test"})
    channels = ChannelActivities(settings, load_templates())
    start = threading.Barrier(6)

    def one_journey(n: int) -> DeliveryResult:
        start.wait()
        for _ in range(20):  # Temporal's retries of a failed activity
            try:
                return deliver(channels, "win_back_10_off", key=f"journey-{n}:offer")
            except Exception:  # noqa: BLE001  (SQLite: database is locked)
                time.sleep(0.05)
        raise AssertionError("never delivered")

    with ThreadPoolExecutor(6) as pool:
        results = list(pool.map(one_journey, range(6)))
    assert sorted(r.status for r in results) == ["sent"] + ["skipped"] * 5
    assert len(inbox[0].messages) == 1
