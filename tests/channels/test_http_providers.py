"""SMS, push and webhooks through a real local HTTP provider: once per idempotency key, signed
webhooks, refusals not retried, outages retried with the same key."""

from collections.abc import Iterator
from typing import Any

import pytest
from temporalio.exceptions import ApplicationError
from temporalio.testing import ActivityEnvironment

from journeys.activities.channels import ChannelActivities
from journeys.channels.http_providers import signature
from journeys.channels.templates import load_templates
from journeys.config.settings import Settings
from journeys.store.consent import set_subscription
from journeys.store.customers import upsert_traits
from journeys.store.db import session_scope
from journeys.store.models import Message
from journeys.vocabulary.journey_types import QueueMessageInput
from tests.helpers.http import Provider, provider


@pytest.fixture
def http_provider() -> Iterator[Provider]:
    with provider() as p:
        yield p


def channels_for(sqlite_url: str, p: Provider) -> ChannelActivities:
    settings = Settings(
        database_url=sqlite_url, sms_provider_url=p.url, sms_provider_token="sms-token",
        push_provider_url=p.url, webhook_url=p.url, webhook_secret="hook-secret",
    )  # fmt: skip
    with session_scope(sqlite_url) as session:
        upsert_traits(session, customer_id="c1", traits={"phone": "+15550100"})
        # SMS offers are opt-in (templates/topics.yaml): this customer said yes
        set_subscription(session, customer_id="c1", channel="sms", topic="offers",
                         subscribed=True, source="test")  # fmt: skip
    return ChannelActivities(settings, load_templates())


def message(
    channel: str, template: str, key: str = "run:step:1", **properties: Any
) -> QueueMessageInput:
    return QueueMessageInput(
        idempotency_key=key, customer_id="c1", journey="j", step="step", channel=channel,
        template=template, context={"properties": properties},
    )  # fmt: skip


def test_sms_is_sent_once_with_the_idempotency_key(
    http_provider: Provider, sqlite_url: str
) -> None:
    channels = channels_for(sqlite_url, http_provider)
    env = ActivityEnvironment()
    first = env.run(channels.deliver_message, message("sms", "cart_recovery_sms"))
    again = env.run(channels.deliver_message, message("sms", "cart_recovery_sms"))
    assert (first.status, again.status) == ("sent", "sent")
    [request] = http_provider.requests
    assert request["headers"]["Idempotency-Key"] == "run:step:1"
    assert request["headers"]["Authorization"] == "Bearer sms-token"
    assert request["json"]["to"] == "+15550100" and "cart" in request["json"]["text"]


def test_push_goes_by_customer_id_and_a_webhook_is_signed(
    http_provider: Provider, sqlite_url: str
) -> None:
    channels = channels_for(sqlite_url, http_provider)
    env = ActivityEnvironment()
    env.run(channels.deliver_message, message("push", "referral_reminder", key="k-push"))
    env.run(channels.deliver_message, message("webhook", "detractor_alert", key="k-hook", score=3))
    push, hook = http_provider.requests
    assert push["json"] == {"external_id": "c1", "title": "Your $10 is waiting",
                            "body": "Invite a friend to claim it.",
                            "deep_link": "app://referral"}  # fmt: skip
    assert hook["json"] == {"customer_id": "c1", "score": 3, "comment": ""}
    assert hook["headers"]["X-Journeys-Signature"] == signature("hook-secret", hook["raw"])


def test_a_refusal_fails_for_good_and_an_outage_is_retried_with_the_same_key(
    http_provider: Provider, sqlite_url: str
) -> None:
    channels = channels_for(sqlite_url, http_provider)
    env = ActivityEnvironment()
    http_provider.statuses = [400]
    refused = env.run(channels.deliver_message, message("sms", "cart_recovery_sms", key="k1"))
    assert refused.status == "failed" and refused.reason.startswith("400")
    http_provider.statuses = [503]
    with pytest.raises(ApplicationError):  # transient: Temporal retries the activity
        env.run(channels.deliver_message, message("sms", "cart_recovery_sms", key="k2"))
    with session_scope(sqlite_url) as session:
        assert session.get(Message, "k2").status == "sending"  # type: ignore[union-attr]
    retried = env.run(channels.deliver_message, message("sms", "cart_recovery_sms", key="k2"))
    assert retried.status == "sent"
    keys = [r["headers"]["Idempotency-Key"] for r in http_provider.requests]
    assert keys == ["k1", "k2", "k2"]


def test_no_phone_number_is_skipped(http_provider: Provider, sqlite_url: str) -> None:
    channels = channels_for(sqlite_url, http_provider)
    with session_scope(sqlite_url) as session:
        upsert_traits(session, customer_id="c2", traits={})
        set_subscription(session, customer_id="c2", channel="sms", topic="offers",
                         subscribed=True, source="test")  # fmt: skip
    result = ActivityEnvironment().run(
        channels.deliver_message,
        message("sms", "cart_recovery_sms").model_copy(update={"customer_id": "c2"}),
    )
    assert (result.status, result.reason) == ("skipped", "no phone number")
    assert http_provider.requests == []
