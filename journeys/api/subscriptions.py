"""Consent over HTTP: the signed unsubscribe link in every message, and the admin routes a
company's services use to read and record a customer's subscriptions (a sign-up form's SMS
opt-in, a preference centre)."""

import asyncio
from html import escape
from typing import Any

import structlog
from fastapi import APIRouter, Depends
from fastapi.responses import HTMLResponse
from pydantic import BaseModel, Field, ValidationError, field_validator

from journeys.api.auth import admin_guard
from journeys.api.errors import ApiError, field_errors
from journeys.channels import consent
from journeys.channels.subscriptions import ALL, Topic
from journeys.config.settings import Settings
from journeys.store.consent import (
    lift_suppression,
    set_subscription,
    subscriptions,
    suppress,
    suppressions,
)
from journeys.store.db import session_scope
from journeys.vocabulary.journey_spec import CHANNELS

log = structlog.get_logger()


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


def subscriptions_router(settings: Settings, topics: dict[str, Topic]) -> APIRouter:
    router = APIRouter(prefix="/v1")
    url = settings.database_url

    @router.get("/unsubscribe", summary="unsubscribe link (a person's click)")
    @router.post("/unsubscribe", summary="one-click unsubscribe (a mail client, RFC 8058)")
    async def unsubscribe(
        c: str, ch: str, t: str, tp: str | None = None, e: str | None = None
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

        def write() -> None:
            with session_scope(url) as session:
                set_subscription(session, customer_id=c, channel=ch, topic=tp or ALL,
                                 subscribed=False, source="unsubscribe link")  # fmt: skip

        await asyncio.to_thread(write)
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

    admin = [Depends(admin_guard(settings))]

    @router.get("/customers/{customer_id}/subscriptions", dependencies=admin,
                summary="a customer's subscription groups: their word, and the topics")  # fmt: skip
    async def read(customer_id: str) -> dict[str, Any]:
        def read() -> list[dict[str, Any]]:
            with session_scope(url) as session:
                rows = subscriptions(session, customer_id=customer_id)
                return [row.model_dump(exclude={"customer_id"}) for row in rows]

        def read_blocks() -> list[dict[str, Any]]:
            with session_scope(url) as session:
                rows = suppressions(session, customer_id=customer_id)
                return [row.model_dump(exclude={"customer_id"}) for row in rows]

        return {
            "customer_id": customer_id,
            "subscriptions": await asyncio.to_thread(read),
            "suppressions": await asyncio.to_thread(read_blocks),
            "topics": {name: topic.model_dump() for name, topic in topics.items()},
        }

    @router.put("/customers/{customer_id}/subscriptions", dependencies=admin,
                summary="record a customer joining or leaving a subscription group")  # fmt: skip
    async def change(customer_id: str, body: dict[str, Any]) -> dict[str, Any]:
        try:
            wanted = SubscriptionChange.model_validate(body)
        except ValidationError as err:
            raise ApiError(400, "invalid subscription", field_errors(err)) from err
        if wanted.topic != ALL and wanted.topic not in topics:
            known = ", ".join([*sorted(topics), ALL])
            reason = f"unknown topic {wanted.topic!r} ({known})"
            raise ApiError(400, "invalid subscription", [{"field": "topic", "reason": reason}])

        def write() -> dict[str, Any]:
            with session_scope(url) as session:
                row = set_subscription(session, customer_id=customer_id, source="api",
                                       **wanted.model_dump())  # fmt: skip
                return row.model_dump(exclude={"customer_id"})

        saved = await asyncio.to_thread(write)
        log.info("subscription_changed", customer_id=customer_id, channel=wanted.channel,
                 topic=wanted.topic, subscribed=wanted.subscribed)  # fmt: skip
        return saved

    @router.put("/customers/{customer_id}/suppressions/{channel}", dependencies=admin,
                summary="block all messages on a channel (* for all)")  # fmt: skip
    async def block(customer_id: str, channel: str, body: Suppressing) -> dict[str, Any]:
        if problem := _channel_problem(channel):
            raise ApiError(400, "invalid request", [{"field": "channel", "reason": problem}])

        def write() -> None:
            with session_scope(url) as session:
                suppress(session, customer_id=customer_id, channel=channel, reason=body.reason)

        await asyncio.to_thread(write)
        log.info("suppressed", customer_id=customer_id, channel=channel, reason=body.reason)
        return {"customer_id": customer_id, "channel": channel, "reason": body.reason}

    @router.delete("/customers/{customer_id}/suppressions/{channel}", dependencies=admin,
                   status_code=204, summary="lift a block")  # fmt: skip
    async def unblock(customer_id: str, channel: str) -> None:
        def write() -> bool:
            with session_scope(url) as session:
                return lift_suppression(session, customer_id=customer_id, channel=channel)

        if not await asyncio.to_thread(write):
            raise ApiError(404, f"{customer_id} is not suppressed on {channel}")
        log.info("suppression_lifted", customer_id=customer_id, channel=channel)

    return router


def _channel_problem(channel: str) -> str | None:
    if channel != ALL and channel not in CHANNELS:
        return f"unknown channel {channel!r} (one of {', '.join(CHANNELS)}, *)"
    return None
