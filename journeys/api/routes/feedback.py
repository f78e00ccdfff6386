"""Delivery feedback as customer events: the email open pixel, click redirects, and providers'
delivery reports (`POST /v1/providers/{channel}/events`).

Each becomes a track call built here and goes through `ingest`, the path of every tracking call,
so a journey can wait for `Email Opened` or branch on `Email Bounced` like on any event. Its
messageId is derived from the send, the event and the link, so a provider retrying a report or
a mail client loading the pixel twice is stored and applied once. A hard bounce or a spam
complaint also suppresses the channel for the customer: later sends are skipped with the reason.
An open or click a machine made (channels.machine: privacy proxies, link scanners) is recorded
too, marked `properties.machine` with the reason and under its own messageId, so the person's
own open after Apple's prefetch still counts.
"""

import base64
import hashlib
import ipaddress
import json
import re
from datetime import UTC, datetime, timedelta
from functools import cache
from typing import Any, Literal
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import structlog
from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, RedirectResponse, Response
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from sqlmodel import Session, col, select
from temporalio.client import Client

from journeys.api.auth import check_provider_token
from journeys.api.deps import (
    ClientDep,
    IngestorDep,
    KeyFirstRoute,
    SettingsDep,
    Store,
    StoreDep,
)
from journeys.api.errors import ApiError, field_errors
from journeys.api.ingest import DeliveryFailed, Ingestor
from journeys.api.schemas import SegmentCall
from journeys.channels import machine, tracking
from journeys.config.settings import Settings
from journeys.store.consent import suppress
from journeys.store.ledger import record_engagement
from journeys.store.models import Message
from journeys.vocabulary.ids import segment_ids

log = structlog.get_logger()

Channel = Literal["email", "sms", "push", "webhook"]
# what a report says became of a sent message, weakest first: a later report of a weaker kind
# (a "delivered" after a bounce) does not undo a stronger one
OUTCOMES = ("delivered", "failed", "bounced", "complained")
Status = Literal["delivered", "bounced", "opened", "clicked", "complained", "failed"]
# Segment's spec names where there is one (Email, Mobile); the rest follow their pattern.
EVENTS: dict[tuple[str, str], str] = {
    ("email", "delivered"): "Email Delivered",
    ("email", "opened"): "Email Opened",
    ("email", "clicked"): "Email Link Clicked",
    ("email", "bounced"): "Email Bounced",
    ("email", "complained"): "Email Marked as Spam",
    ("email", "failed"): "Email Failed",
    ("sms", "delivered"): "SMS Delivered",
    ("sms", "clicked"): "SMS Link Clicked",
    ("sms", "bounced"): "SMS Bounced",
    ("sms", "complained"): "SMS Marked as Spam",
    ("sms", "failed"): "SMS Failed",
    ("push", "delivered"): "Push Notification Received",
    ("push", "opened"): "Push Notification Tapped",
    ("push", "clicked"): "Push Notification Tapped",
    ("push", "bounced"): "Push Notification Bounced",
    ("push", "failed"): "Push Notification Failed",
    ("webhook", "delivered"): "Webhook Delivered",
    ("webhook", "failed"): "Webhook Failed",
}
MAX_REPORT_BYTES = 500 * 1024
PIXEL = base64.b64decode("R0lGODlhAQABAIAAAAAAAP///yH5BAEAAAAALAAAAAABAAEAAAIBRAA7")
NO_CACHE = {"Cache-Control": "no-store, no-cache, must-revalidate, max-age=0", "Pragma": "no-cache",
            "Expires": "0"}  # fmt: skip
# Providers quote the refused address in bounce texts ("550 <ann@example.test>: no such user");
# events must not carry addresses or phone numbers.
_ADDRESS = re.compile(r"[^\s<>()\[\]\"',;:]+@[^\s<>()\[\]\"',;:]+")
_NUMBER = re.compile(r"\+\d[\d\s().-]{5,}\d|\b\d{9,15}\b")  # +1 (555) 123-4567, 15551234567


class ProviderReport(BaseModel):
    """One delivery report; providers' own extra fields are ignored."""

    model_config = ConfigDict(extra="ignore")

    idempotency_key: str = Field(min_length=1, max_length=500)
    status: Status
    reason: str = Field(default="", max_length=1000)
    url: str | None = Field(default=None, max_length=4000)
    permanent: bool | None = None  # bounced: hard unless false; complained: always suppresses
    timestamp: datetime | None = None


def scrub(text: str) -> str:
    """`text` without email addresses or phone numbers (SMTP codes and dates stay)."""
    return _NUMBER.sub("[number]", _ADDRESS.sub("[address]", text))


def scrub_url(url: str) -> str:
    """`url` without query values holding an address (`?email=ann%40example.test`); ids and
    numbers stay, a journey may branch on them."""
    parts = urlsplit(url)
    pairs = parse_qsl(parts.query, keep_blank_values=True)
    if not any("@" in value for _, value in pairs):
        return url
    query = urlencode([(k, "[address]" if "@" in v else v) for k, v in pairs])
    return urlunsplit(parts._replace(query=query))


def feedback_call(
    *, customer_id: str, event: str, send: tracking.SendIdentity, channel: str,
    url: str | None = None, reason: str = "", permanent: bool | None = None,
    timestamp: datetime | None = None, made_by_machine: str | None = None,
) -> SegmentCall:  # fmt: skip
    """The track call for one piece of feedback, with an id that repeats when the feedback does:
    per message and event, per link for clicks, and apart for a machine's."""
    seed = "\n".join([send.idempotency_key, event, url or ""])
    if made_by_machine:
        seed += "\nmachine"
    properties: dict[str, Any] = {
        "channel": channel,
        "journey": send.journey,
        "step": send.step,
        "template": send.template,
        "message_id": send.idempotency_key,
    }
    if url:
        properties["url"] = scrub_url(url)
    if reason:
        properties["reason"] = scrub(reason)
    if permanent is not None:
        properties["permanent"] = permanent
    if made_by_machine:
        properties["machine"] = made_by_machine
    user_id, anonymous_id = segment_ids(customer_id)  # an anonymous one reaches who it became
    return SegmentCall(
        type="track", event=event, properties=properties, timestamp=timestamp,
        messageId="feedback-" + hashlib.sha256(seed.encode()).hexdigest()[:40],
        context={"library": {"name": "journeys-feedback"}},
        userId=user_id, anonymousId=anonymous_id,
    )  # fmt: skip


def token_error(err: Exception) -> dict[str, str]:
    return {"field": "token", "reason": str(err)}


def suppresses(report: ProviderReport) -> str | None:
    """The suppression reason a report calls for: hard bounces and spam complaints."""
    if report.status == "complained":
        return "complained"
    if report.status == "bounced" and report.permanent is not False:
        return "bounced"
    return None


router = APIRouter(route_class=KeyFirstRoute, prefix="/v1", tags=["feedback"])


@cache
def networks(ranges: tuple[str, ...]) -> list[machine.Network]:
    """JOURNEYS_MACHINE_RANGES as networks, parsed once (settings checked them at start)."""
    return [ipaddress.ip_network(text, strict=False) for text in ranges]


async def record_tracked(
    request: Request, token: str, kind: tracking.Kind, client: Client, settings: Settings,
    ingestor: Ingestor, store: Store,
) -> tracking.Tracked:  # fmt: skip
    """Read a pixel or click token and record its event, and the message's first open or
    click on its ledger row; tracking never breaks the mail."""
    if not settings.signing_key:
        raise tracking.InvalidToken("tracking is not configured")
    tracked = tracking.read_token(settings.signing_key, token, kind)
    send = tracked.send
    event = "Email Opened" if kind == tracking.OPEN else "Email Link Clicked"
    composed = tracked.expires_at - timedelta(days=tracking.TOKEN_DAYS)
    made_by = machine.machine_reason(
        user_agent=request.headers.get("user-agent", ""),
        address=request.client.host if request.client else None,
        seconds_after_send=(datetime.now(UTC) - composed).total_seconds(),
        extra_ranges=networks(tuple(settings.machine_ranges)),
    )
    call = feedback_call(customer_id=send.customer_id, event=event, send=send, channel="email",
                         url=tracked.url, made_by_machine=made_by)  # fmt: skip
    try:
        await store.run(lambda session: record_engagement(
            session, key=send.idempotency_key, clicked=kind == tracking.CLICK,
            by_machine=made_by is not None, at=datetime.now(UTC),
        ))  # fmt: skip
        await ingestor.ingest([call], client)
    except Exception as err:  # noqa: BLE001  (the person still gets the pixel or the page)
        log.warning("feedback_not_recorded", event=event, customer_id=send.customer_id,
                    message=send.idempotency_key, error=str(err))  # fmt: skip
    return tracked


@router.get("/t/o/{token}.gif", summary="email open pixel", response_class=Response)
async def opened(
    request: Request, token: str, client: ClientDep, settings: SettingsDep, ingestor: IngestorDep,
    store: StoreDep,
) -> Response:  # fmt: skip
    """Always the 1x1 GIF, even for a bad or expired token: a broken image in an email
    would be worse than an open not counted."""
    try:
        await record_tracked(request, token, tracking.OPEN, client, settings, ingestor, store)
    except (tracking.InvalidToken, tracking.ExpiredToken) as err:
        log.info("open_not_recorded", reason=str(err))
    return Response(PIXEL, media_type="image/gif", headers=NO_CACHE)


@router.get("/t/c/{token}", summary="email click redirect", response_class=RedirectResponse)
async def clicked(
    request: Request, token: str, client: ClientDep, settings: SettingsDep, ingestor: IngestorDep,
    store: StoreDep,
) -> RedirectResponse:  # fmt: skip
    """Redirects only to the URL the token signs: never an open redirect."""
    try:
        tracked = await record_tracked(
            request, token, tracking.CLICK, client, settings, ingestor, store
        )
    except tracking.InvalidToken as err:
        raise ApiError(403, "this link is not valid", [token_error(err)]) from err
    except tracking.ExpiredToken as err:
        raise ApiError(410, "this link has expired", [token_error(err)]) from err
    assert tracked.url is not None
    return RedirectResponse(tracked.url, status_code=302, headers=NO_CACHE)


async def read_reports(request: Request, channel: str) -> list[ProviderReport]:
    raw = b""
    async for chunk in request.stream():
        raw += chunk
        if len(raw) > MAX_REPORT_BYTES:
            raise ApiError(413, f"request body over {MAX_REPORT_BYTES // 1024} KB")
    try:
        body = json.loads(raw)
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise ApiError(400, "body is not valid JSON",
                       [{"field": "body", "reason": str(err)}]) from err  # fmt: skip
    items, many = (body, True) if isinstance(body, list) else ([body], False)
    if not items or not all(isinstance(i, dict) for i in items):
        reason = "expected a JSON object or a non-empty list of them"
        raise ApiError(400, "invalid report", [{"field": "body", "reason": reason}])
    reports, errors = [], []
    for i, item in enumerate(items):
        prefix = f"[{i}]." if many else ""
        try:
            report = ProviderReport.model_validate(item)
        except ValidationError as err:
            errors.extend(field_errors(err, prefix=prefix))
            continue
        if (channel, report.status) not in EVENTS:
            errors.append({"field": f"{prefix}status",
                           "reason": f"{channel} has no {report.status!r} report"})  # fmt: skip
        reports.append(report)
    if errors:
        raise ApiError(400, "invalid report", errors)
    return reports


@router.post("/providers/{channel}/events", summary="a provider's delivery reports")
async def provider_events(
    request: Request, channel: Channel, client: ClientDep, settings: SettingsDep, store: StoreDep,
    ingestor: IngestorDep,
) -> JSONResponse:  # fmt: skip
    """Reports name our message by the key we sent (Idempotency-Key, Message-ID). All or
    nothing: one unknown key refuses the request (404) before anything is applied."""
    check_provider_token(settings, request, channel)
    reports = await read_reports(request, channel)

    def look_up_and_suppress(session: Session) -> list[SegmentCall]:
        keys = [r.idempotency_key for r in reports]
        query = select(Message).where(col(Message.idempotency_key).in_(keys))
        messages = {m.idempotency_key: m for m in session.exec(query)}
        unknown = [
            {"field": f"[{i}].idempotency_key" if len(reports) > 1 else "idempotency_key",
             "reason": f"no {channel} message has this key"}
            for i, key in enumerate(keys)
            if key not in messages or messages[key].channel != channel
        ]  # fmt: skip
        if unknown:
            raise ApiError(404, "unknown message", unknown)
        calls = []
        for report in reports:
            m = messages[report.idempotency_key]
            if report.status in OUTCOMES and OUTCOMES.index(report.status) >= OUTCOMES.index(
                m.outcome or "delivered"
            ):  # a bounce or failure stands; the first word of its rank is kept
                if m.outcome != report.status:
                    m.outcome, m.outcome_at = report.status, report.timestamp or datetime.now(UTC)
                    session.add(m)
            if report.status in ("opened", "clicked"):  # a push tapped, an SMS link followed
                clicked, at = report.status == "clicked", report.timestamp or datetime.now(UTC)
                record_engagement(
                    session, key=m.idempotency_key, clicked=clicked, by_machine=False, at=at
                )
            reason = suppresses(report)
            if reason and channel != "webhook":
                suppress(session, customer_id=m.customer_id, channel=channel, reason=reason)
            send = tracking.SendIdentity(m.customer_id, m.idempotency_key, m.journey,
                                         m.step, m.template)  # fmt: skip
            calls.append(feedback_call(
                customer_id=m.customer_id, event=EVENTS[channel, report.status],
                send=send, channel=channel, url=report.url, reason=report.reason,
                permanent=report.permanent, timestamp=report.timestamp,
            ))  # fmt: skip
        return calls

    # the suppression is written first: it protects the sender even while Temporal is down
    calls = await store.run(look_up_and_suppress)
    try:
        await ingestor.ingest(calls, client)
    except DeliveryFailed as err:
        raise ApiError(503, f"Temporal unavailable, retry: {err}",
                       headers={"Retry-After": "2"}) from err  # fmt: skip
    log.info("provider_reports", channel=channel, count=len(calls))
    return JSONResponse({"success": True})
