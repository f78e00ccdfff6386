"""Consent over HTTP: the signed unsubscribe link in every message, and the admin routes a
company's services use to read and record a customer's subscriptions (a sign-up form's SMS
opt-in, a preference centre) and to block or unblock a channel (suppressions)."""

from collections.abc import Sequence
from html import escape
from typing import Any

import structlog
from fastapi import APIRouter, Depends
from fastapi.responses import HTMLResponse
from pydantic import BaseModel, Field, ValidationError, field_validator
from sqlmodel import SQLModel

from journeys.api.deps import KeyFirstRoute, SettingsDep, StoreDep, TopicsDep, require_admin
from journeys.api.errors import ApiError, field_errors
from journeys.channels import consent
from journeys.channels.subscriptions import ALL
from journeys.store.consent import (
    lift_suppression,
    set_subscription,
    subscriptions,
    suppress,
    suppressions,
)
from journeys.vocabulary.journey_spec import CHANNELS

log = structlog.get_logger()

router = APIRouter(route_class=KeyFirstRoute, prefix="/v1", tags=["subscriptions"])
admin = [Depends(require_admin)]


class SubscriptionChange(BaseModel):
    channel: str = Field(description='a channel, or "*" for every channel')
    topic: str = Field(default=ALL, description='a topic from topics.yaml, or "*" for all')
    subscribed: bool

    @field_validator("channel")
    @classmethod
    def _channel(cls, value: str) -> str:
        if problem := _channel_problem(value):
            raise ValueError(problem)
        return value


class Suppressing(BaseModel):
    reason: str = Field(default="suppressed by an operator", min_length=1, max_length=100)


@router.get("/unsubscribe", summary="unsubscribe link (a person's click)")
@router.post("/unsubscribe", summary="one-click unsubscribe (a mail client, RFC 8058)")
async def unsubscribe(
    c: str,
    ch: str,
    t: str,
    settings: SettingsDep,
    store: StoreDep,
    topics: TopicsDep,
    tp: str | None = None,
    e: str | None = None,
) -> HTMLResponse:
    """The link in every message (GET from a person, POST from a mail client, RFC 8058).
    With a topic it leaves that subscription group; the page offers the whole channel."""
    if not settings.signing_key:
        raise ApiError(403, "this unsubscribe link is not valid")
    try:
        consent.check(settings.signing_key, c, ch, t, tp, e)
    except consent.InvalidLink as err:
        raise ApiError(403, str(err)) from err
    except consent.ExpiredLink as err:
        days = settings.unsubscribe_link_days
        raise ApiError(
            410, f"{err}; the link in any message from the last {days} days works"
        ) from err
    await store.run(
        lambda s: set_subscription(
            s,
            customer_id=c,
            channel=ch,
            topic=tp or ALL,
            subscribed=False,
            source="unsubscribe link",
        )  # fmt: skip
    )
    log.info("unsubscribed", customer_id=c, channel=ch, topic=tp or ALL)
    if not tp:
        return HTMLResponse(f"<p>You will get no more {escape(ch)} messages from us.</p>")
    everything = consent.unsubscribe_url(
        settings.public_url, settings.signing_key, c, ch, days=settings.unsubscribe_link_days
    )
    about = topics[tp].description if tp in topics else tp
    return HTMLResponse(
        f"<p>You will get no more {escape(ch)} messages about {escape(about)}.</p>"
        f'<p><a href="{escape(everything)}">Unsubscribe from all {escape(ch)}</a></p>'
    )


@router.get("/customers/{customer_id}/subscriptions", dependencies=admin,
            summary="a customer's subscription groups: their word, and the topics")  # fmt: skip
async def read(customer_id: str, store: StoreDep, topics: TopicsDep) -> dict[str, Any]:
    def without_id(rows: Sequence[SQLModel]) -> list[dict[str, Any]]:
        return [row.model_dump(exclude={"customer_id"}) for row in rows]

    return {
        "customer_id": customer_id,
        "subscriptions": await store.run(
            lambda s: without_id(subscriptions(s, customer_id=customer_id))
        ),
        "suppressions": await store.run(
            lambda s: without_id(suppressions(s, customer_id=customer_id))
        ),
        "topics": {name: topic.model_dump() for name, topic in topics.items()},
    }


@router.put("/customers/{customer_id}/subscriptions", dependencies=admin,
            summary="record a customer joining or leaving a subscription group")  # fmt: skip
async def change(
    customer_id: str, body: dict[str, Any], store: StoreDep, topics: TopicsDep
) -> dict[str, Any]:
    try:
        wanted = SubscriptionChange.model_validate(body)
    except ValidationError as err:
        raise ApiError(400, "invalid subscription", field_errors(err)) from err
    if wanted.topic != ALL and wanted.topic not in topics:
        known = ", ".join([*sorted(topics), ALL])
        reason = f"unknown topic {wanted.topic!r} ({known})"
        raise ApiError(400, "invalid subscription", [{"field": "topic", "reason": reason}])
    saved = await store.run(
        lambda s: set_subscription(s, customer_id=customer_id, source="api",
                                   **wanted.model_dump()).model_dump(exclude={"customer_id"})
    )  # fmt: skip
    log.info("subscription_changed", customer_id=customer_id, channel=wanted.channel,
             topic=wanted.topic, subscribed=wanted.subscribed)  # fmt: skip
    return saved


@router.put("/customers/{customer_id}/suppressions/{channel}", dependencies=admin,
            summary="block all messages on a channel (* for all)")  # fmt: skip
async def block(
    customer_id: str, channel: str, body: Suppressing, store: StoreDep
) -> dict[str, Any]:
    if problem := _channel_problem(channel):
        raise ApiError(400, "invalid request", [{"field": "channel", "reason": problem}])
    await store.run(
        lambda s: suppress(s, customer_id=customer_id, channel=channel, reason=body.reason)
    )
    log.info("suppressed", customer_id=customer_id, channel=channel, reason=body.reason)
    return {"customer_id": customer_id, "channel": channel, "reason": body.reason}


@router.delete("/customers/{customer_id}/suppressions/{channel}", dependencies=admin,
               status_code=204, summary="lift a block")  # fmt: skip
async def unblock(customer_id: str, channel: str, store: StoreDep) -> None:
    lifted = await store.run(
        lambda s: lift_suppression(s, customer_id=customer_id, channel=channel)
    )
    if not lifted:
        raise ApiError(404, f"{customer_id} is not suppressed on {channel}")
    log.info("suppression_lifted", customer_id=customer_id, channel=channel)


def _channel_problem(channel: str) -> str | None:
    if channel != ALL and channel not in CHANNELS:
        return f"unknown channel {channel!r} (one of {', '.join(CHANNELS)}, *)"
    return None
