"""On-site popovers: `GET /v1/popovers.js`, the script a shop adds with one tag, and
`GET /v1/popovers`, what a website shows this visitor now (write key as for tracking), with
the display rules applied. Websites call these from their own origin: both answer any origin
(the write key is public by design, like Segment's)."""

import hashlib
from datetime import UTC, datetime, timedelta
from functools import cache
from importlib.resources import files
from typing import Annotated, Any

import structlog
from fastapi import APIRouter, Depends, Query, Request, Response
from fastapi.responses import JSONResponse
from pydantic import ValidationError
from sqlmodel import Session

from journeys.api.deps import (
    ClientDep,
    IngestorDep,
    KeyFirstRoute,
    SettingsDep,
    StoreDep,
    TemplatesDep,
    require_write_key,
)
from journeys.api.errors import ApiError, field_errors
from journeys.api.routes.tracking import TrackingBody, accept
from journeys.api.schemas import SegmentCall
from journeys.channels.forms import read_answers
from journeys.channels.templates import RenderError, render, render_context
from journeys.store.consent import set_subscription
from journeys.store.customers import customer_traits, resolve_anonymous, survivors
from journeys.store.ledger import mark
from journeys.store.models import Message
from journeys.store.popovers import (
    claim_popover,
    due_popovers,
    mark_submitted,
    popover_products,
    served_popover,
)
from journeys.vocabulary.ids import anonymous_customer_id, identified_customer_id

log = structlog.get_logger()

router = APIRouter(route_class=KeyFirstRoute, prefix="/v1", tags=["popovers"])
ANY_ORIGIN = {"Access-Control-Allow-Origin": "*"}
BASKET_EVENT = "Basket Email Requested"  # the email_my_basket journey's trigger
ON_SHOW = ("exit_intent",)
NEEDS_PRODUCTS = {  # kinds that are their products: without any, nothing to show
    "product_recommendation": "no products to recommend",
    "retargeting": "no viewed products to show again",
    "email_my_basket": "the cart is empty",
}  # kinds the page may never show: served when shown, not when fetched


@cache
def snippet() -> tuple[bytes, str]:
    """The script (package data) and its ETag."""
    body = files("journeys.data").joinpath("web/popovers.js").read_bytes()
    return body, '"' + hashlib.sha256(body).hexdigest()[:20] + '"'


@router.get("/popovers.js", summary="the website snippet: <script src=… data-write-key=…>",
            response_class=Response)  # fmt: skip
async def popovers_script(request: Request) -> Response:
    """Public and cacheable for an hour; a revalidation with the same ETag is 304."""
    body, etag = snippet()
    headers = {"ETag": etag, "Cache-Control": "public, max-age=3600", **ANY_ORIGIN}
    if request.headers.get("if-none-match") == etag:
        return Response(status_code=304, headers=headers)
    return Response(body, media_type="text/javascript; charset=utf-8", headers=headers)


def offer_ended(content: dict[str, Any]) -> bool:
    """A time-sensitive offer past its `ends_at` (the countdown's end) is not shown; an
    `ends_at` that is not a date fails the popover like a template that does not render."""
    if content["kind"] != "time_sensitive_offer":
        return False
    text = content["fields"].get("ends_at", "")
    try:
        ends = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError as err:
        raise RenderError([("popover.ends_at", f"{text!r} is not a date (ISO 8601)")]) from err
    if ends.tzinfo is None:
        ends = ends.replace(tzinfo=UTC)
    return ends <= datetime.now(UTC)


@router.get(
    "/popovers",
    summary="popovers to show this visitor now (display rules applied)",
    dependencies=[Depends(require_write_key)],
)
async def popovers(
    request: Request,
    response: Response,
    settings: SettingsDep,
    store: StoreDep,
    templates: TemplatesDep,
    userId: str | None = None,  # noqa: N803  (Segment's spelling)
    anonymousId: str | None = None,  # noqa: N803
    sessionId: Annotated[str | None, Query(min_length=1, max_length=300)] = None,  # noqa: N803
    page: Annotated[str | None, Query(min_length=1, max_length=2000)] = None,
) -> list[dict[str, Any]]:
    """The website asks on each page view (write key as for tracking) and reports what it
    did with each popover as track events: `Popover Viewed`, `Popover Clicked`,
    `Popover Dismissed`, `Popover Submitted` with the popover's `popover_id`. Display rules:
    expiry, `JOURNEYS_POPOVERS_PER_DAY`, `JOURNEYS_POPOVERS_PER_SESSION` for the browsing
    session `sessionId`, and a template's `pages` globs matched against `page` (the path)."""
    if not userId and not anonymousId:
        raise ApiError(
            400,
            "invalid request",
            [{"field": "userId", "reason": "userId or anonymousId is required"}],
        )
    if page is not None and not page.startswith("/"):
        raise ApiError(
            400,
            "invalid request",
            [{"field": "page", "reason": "a path starting with / (location.pathname)"}],
        )
    shows_here = {name for name, t in templates.items() if t.popover and t.popover.shows_on(page)}

    on_show = {name for name, t in templates.items() if t.popover and t.popover.kind in ON_SHOW}

    def serve(session: Session) -> list[dict[str, Any]]:
        customer_id = visitor(session, userId, anonymousId)
        traits = customer_traits(session, customer_id=customer_id) or {}
        shown = []
        for message in due_popovers(
            session, customer_id=customer_id, max_per_day=settings.popovers_per_day,
            expiry=timedelta(days=settings.popover_expiry_days), session_id=sessionId,
            max_per_session=settings.popovers_per_session, templates=shows_here,
            on_show=on_show,
        ):  # fmt: skip
            context = render_context(
                customer_id=customer_id, traits=traits,
                properties=message.context.get("properties"),
                products=message.context.get("products"),
            )  # fmt: skip
            try:
                content = render(templates[message.template], "popover", context)
                ended = offer_ended(content)
            except RenderError as err:  # failed for good: later page views go on
                mark(session, message, status="failed", reason=str(err))
                log.warning("popover_not_rendered", customer_id=customer_id,
                            template=message.template, error=str(err))  # fmt: skip
                continue
            if ended:
                mark(session, message, status="skipped", reason="the offer ended before it showed")
                continue
            popover = templates[message.template].popover
            assert popover is not None  # only popover templates queue popover messages
            products = popover_products(session, kind=popover.kind, customer_id=customer_id,
                                        context=message.context)  # fmt: skip
            if not products and popover.kind in NEEDS_PRODUCTS:
                mark(session, message, status="skipped", reason=NEEDS_PRODUCTS[popover.kind])
                continue
            shown.append(
                {
                    "popover_id": message.idempotency_key,
                    "kind": content["kind"],
                    "fields": content["fields"],
                    "journey": message.journey,
                    # served only once the page shows it: POST .../{popover_id}/shown first
                    "claim": message.template in on_show,
                    "products": products,
                    "layout": popover.layout or "overlay",
                    # answered with POST .../{popover_id}/submit
                    "form": [q.model_dump(exclude_none=True) for q in popover.form or []],
                }
            )
        return shown

    response.headers.update(ANY_ORIGIN)
    return await store.run(serve)


def visitor(session: Session, user_id: str | None, anonymous_id: str | None) -> str:
    """The customer a website's ids stand for, after merges."""
    customer_id = (
        identified_customer_id(user_id)
        if user_id
        else resolve_anonymous(session, anonymous_ids=[str(anonymous_id)]).get(
            str(anonymous_id), anonymous_customer_id(str(anonymous_id))
        )
    )
    return survivors(session, customer_ids=[customer_id]).get(customer_id, customer_id)


@router.post("/popovers/{popover_id}/shown", summary="serve a popover the page shows now")
async def shown(
    popover_id: str, body: TrackingBody, settings: SettingsDep, store: StoreDep
) -> JSONResponse:
    """For an exit-intent popover, which the page holds until the visitor leaves: the page
    asks before it shows it (text/plain body with `writeKey`, `userId` or `anonymousId`, and
    `sessionId`, as the snippet sends). 200 `{"show": true}` once; 409 if it was shown
    already (another tab) or the day's or session's popovers are used up; 404 if it is not
    this visitor's."""
    user_id, anonymous_id, session_id = visitor_ids(body)

    def claim(session: Session) -> str | None:
        return claim_popover(
            session, customer_id=visitor(session, user_id, anonymous_id), key=popover_id,
            max_per_day=settings.popovers_per_day, session_id=session_id,
            max_per_session=settings.popovers_per_session,
        )  # fmt: skip

    why_not = await store.run(claim)
    if why_not == "no such popover for this visitor":
        raise ApiError(404, why_not, headers=ANY_ORIGIN)
    if why_not is not None:
        return JSONResponse({"show": False, "reason": why_not}, status_code=409,
                            headers=ANY_ORIGIN)  # fmt: skip
    return JSONResponse({"show": True}, headers=ANY_ORIGIN)


def visitor_ids(body: dict[str, Any]) -> tuple[str | None, str | None, str | None]:
    """userId, anonymousId and sessionId of a snippet's text/plain body; 400 naming each
    one that is not a short string, or when neither id is there."""
    user_id, anonymous_id = body.get("userId"), body.get("anonymousId")
    session_id = body.get("sessionId")
    problems = [{"field": f, "reason": "a string of at most 300 characters"}
                for f, v in (("userId", user_id), ("anonymousId", anonymous_id),
                             ("sessionId", session_id))
                if v is not None and (not isinstance(v, str) or not 0 < len(v) <= 300)]  # fmt: skip
    if not user_id and not anonymous_id:
        problems.append({"field": "userId", "reason": "userId or anonymousId is required"})
    if problems:
        raise ApiError(400, "invalid request", problems, headers=ANY_ORIGIN)
    return user_id, anonymous_id, session_id


@router.post("/popovers/{popover_id}/submit", summary="a popover form's answers")
async def submit(
    popover_id: str, body: TrackingBody, store: StoreDep, templates: TemplatesDep,
    client: ClientDep, ingestor: IngestorDep,
) -> JSONResponse:  # fmt: skip
    """The visitor's answers to a shown email-my-basket, data-capture or survey popover
    (text/plain body with `writeKey`, `userId` or `anonymousId`, and `answers`, as the snippet
    sends). Checked against the template's form (400 names `answers.<question>`), then sent
    as Segment calls through ingestion like any other: a data capture's answers as an
    `identify` (traits), a survey's as its `event` (`Survey Answered` by default) with the
    answers as properties, an email-my-basket's as an `identify` (email) and `Basket Email
    Requested` with the cart's products, which the `email_my_basket` journey sends; and for
    each, `Popover Submitted`. Ticked consent boxes join their subscription groups. Once per
    popover: the calls' messageIds come from the popover, so a retry is harmless and a second
    submission is refused (409); 404 if the popover is not this visitor's or was never shown."""
    user_id, anonymous_id, _ = visitor_ids(body)

    def find(session: Session) -> tuple[str, Message | None, list[dict[str, Any]]]:
        customer_id = visitor(session, user_id, anonymous_id)
        message = served_popover(session, customer_id=customer_id, key=popover_id)
        cart = (
            []
            if message is None
            else popover_products(
                session, kind="email_my_basket", customer_id=customer_id, context=message.context
            )
        )
        return customer_id, message, cart

    customer_id, message, cart = await store.run(find)
    template = templates.get(message.template) if message else None
    if message is None or template is None or template.popover is None:
        raise ApiError(404, "no such popover shown to this visitor", headers=ANY_ORIGIN)
    form, kind = template.popover.form, template.popover.kind
    if form is None:
        raise ApiError(409, f"a {kind} popover has no form", headers=ANY_ORIGIN)
    if message.outcome == "submitted":
        raise ApiError(409, "this popover was answered already", headers=ANY_ORIGIN)
    answers = read_answers(form, body.get("answers"))
    if answers.problems:
        raise ApiError(400, "invalid answers", answers.problems, headers=ANY_ORIGIN)
    about = {"popover_id": popover_id, "journey": message.journey}
    calls: list[dict[str, Any]] = []
    if kind == "data_capture" and answers.values:
        calls.append({"type": "identify", "traits": answers.values})
    elif kind == "survey":
        calls.append(
            {
                "type": "track",
                "event": template.popover.answers_event,
                "properties": {**answers.values, **about, "survey": message.template},
            }
        )
    elif kind == "email_my_basket":
        calls.append({"type": "identify", "traits": answers.values})
        calls.append({"type": "track", "event": BASKET_EVENT,
                      "properties": {**about, "products": cart}})  # fmt: skip
    calls.append({"type": "track", "event": "Popover Submitted",
                  "properties": {**about, "kind": kind}})  # fmt: skip
    ids = {k: v for k, v in (("userId", user_id), ("anonymousId", anonymous_id)) if v}
    now = datetime.now(UTC).isoformat()
    try:
        segment_calls = [
            SegmentCall.model_validate({
                **call, **ids, "timestamp": now, "messageId": _answer_id(popover_id, call),
                "context": {"library": {"name": "journeys-popovers"}},
            })
            for call in calls
        ]  # fmt: skip
    except ValidationError as err:  # answers fit their questions but not a Segment call
        raise ApiError(400, "invalid answers", field_errors(err), headers=ANY_ORIGIN) from err
    await accept(segment_calls, client, ingestor)

    def settle(session: Session) -> None:
        for channel, topic in answers.consents:
            set_subscription(session, customer_id=customer_id, channel=channel, topic=topic,
                             subscribed=True, source="popover")  # fmt: skip
        mark_submitted(session, key=popover_id)

    await store.run(settle)
    log.info("popover_submitted", customer_id=customer_id, kind=kind,
             consents=len(answers.consents))  # fmt: skip
    return JSONResponse({"submitted": True}, headers=ANY_ORIGIN)


def _answer_id(popover_id: str, call: dict[str, Any]) -> str:
    """The messageId of a submission's call (its type and event): the same for every retry."""
    what = f"{popover_id}\n{call['type']}\n{call.get('event', '')}"
    return "popover-" + hashlib.sha256(what.encode()).hexdigest()[:32]
