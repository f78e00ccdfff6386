"""The HTTP API: Segment-compatible tracking endpoints (`/v1/identify`, ..., `/v1/batch`)."""

import asyncio
import json
import zlib
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import timedelta
from typing import Annotated, Any

import structlog
from fastapi import Depends, FastAPI, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from pydantic import ValidationError
from temporalio.client import Client

from journeys.api.auth import admin_guard, check_write_key
from journeys.api.codec import codec_router
from journeys.api.errors import ApiError, api_error_response, field_errors
from journeys.api.experiments import experiments_router
from journeys.api.feedback import feedback_router
from journeys.api.ingest import ANONYMOUS_PREFIX, DeliveryFailed, ingest
from journeys.api.keys import keys_router
from journeys.api.management import management_router
from journeys.api.recommendations import recommendations_router
from journeys.api.reports import reports_router
from journeys.api.schemas import SegmentBatch, SegmentCall
from journeys.api.segments import segments_router
from journeys.api.subscriptions import subscriptions_router
from journeys.channels.subscriptions import load_topics
from journeys.channels.templates import SHIPPED, RenderError, load_templates, render, render_context
from journeys.cli.specs import load_tracking_plan
from journeys.config.metrics import EVENTS_INGESTED
from journeys.config.settings import Settings
from journeys.config.temporal import connect
from journeys.store.customers import resolve_anonymous
from journeys.store.db import session_scope
from journeys.store.models import Customer
from journeys.store.popovers import due_popovers

log = structlog.get_logger()

MAX_CALL_BYTES = 32 * 1024  # Segment: 32 KB per call
MAX_BATCH_BYTES = 500 * 1024  # Segment: 500 KB per batch request


def create_app(settings: Settings, client: Client | None = None) -> FastAPI:
    """The API for `settings`; tests pass their own Temporal client."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        if not settings.write_keys:
            log.warning("no_write_keys", hint="set JOURNEYS_WRITE_KEYS; every call gets 401")
        if client is None:
            app.state.client = await connect(settings, lazy=True)
        yield

    app = FastAPI(title="journeys", version="0.1.0", lifespan=lifespan)
    app.state.client = client

    @app.exception_handler(RequestValidationError)
    async def _invalid(_: Request, exc: RequestValidationError) -> JSONResponse:
        """FastAPI's own checks (query, path, JSON bodies) answer in our shape, as 400."""
        errors = [
            {
                "field": ".".join(str(p) for p in e["loc"][1:]) or str(e["loc"][0]),
                "reason": e["msg"],
            }
            for e in exc.errors()
        ]
        return await api_error_response(_, ApiError(400, "invalid request", errors))

    app.exception_handler(ApiError)(api_error_response)

    async def read_body(request: Request) -> dict[str, Any]:
        limit = (
            MAX_BATCH_BYTES if request.url.path.endswith(("/batch", "/import")) else MAX_CALL_BYTES
        )
        too_big = ApiError(413, f"request body over {limit // 1024} KB")
        declared = request.headers.get("content-length")
        if declared and declared.isdigit() and int(declared) > limit:
            raise too_big
        raw = b""
        async for chunk in request.stream():
            raw += chunk
            if len(raw) > limit:  # compressed JSON is never larger than the JSON itself
                raise too_big
        if request.headers.get("content-encoding") == "gzip":
            # inflate at most limit+1 bytes: a small "gzip bomb" cannot claim memory
            inflater = zlib.decompressobj(wbits=31)
            try:
                raw = inflater.decompress(raw, limit + 1)
            except zlib.error as err:
                raise ApiError(400, "body is not valid gzip") from err
        if len(raw) > limit:
            raise ApiError(413, f"request body over {limit // 1024} KB")
        try:
            body = json.loads(raw)
        except (json.JSONDecodeError, UnicodeDecodeError) as err:
            raise ApiError(
                400, "body is not valid JSON", [{"field": "body", "reason": str(err)}]
            ) from err
        if not isinstance(body, dict):
            raise ApiError(
                400, "body must be a JSON object", [{"field": "body", "reason": "not an object"}]
            )
        return body

    def authorize(request: Request, body: dict[str, Any]) -> None:
        check_write_key(settings, request, body.get("writeKey"))

    Body = Annotated[dict[str, Any], Depends(read_body)]

    async def accept(request: Request, calls: list[SegmentCall]) -> JSONResponse:
        try:
            new = await ingest(
                calls,
                client=request.app.state.client,
                database_url=settings.database_url,
                task_queue=settings.task_queue,
            )
        except DeliveryFailed as err:
            raise ApiError(
                503, f"Temporal unavailable, retry: {err}", headers={"Retry-After": "2"}
            ) from err
        EVENTS_INGESTED.inc(new)
        return JSONResponse({"success": True})

    def make_route(call_type: str):  # type: ignore[no-untyped-def]
        async def route(request: Request, body: Body) -> JSONResponse:
            authorize(request, body)
            body.pop("writeKey", None)
            try:
                call = SegmentCall.model_validate({**body, "type": call_type})
            except ValidationError as err:
                raise ApiError(400, "invalid call", field_errors(err)) from err
            return await accept(request, [call])

        route.__name__ = call_type
        return route

    for call_type in ("identify", "track", "page", "screen", "group", "alias"):
        app.post(f"/v1/{call_type}", summary=f"Segment {call_type}")(make_route(call_type))

    @app.post("/v1/batch", summary="Segment batch")
    @app.post("/v1/import", include_in_schema=False)
    async def batch(request: Request, body: Body) -> JSONResponse:
        authorize(request, body)
        body.pop("writeKey", None)
        try:
            envelope = SegmentBatch.model_validate(body)
        except ValidationError as err:
            raise ApiError(400, "invalid batch", field_errors(err)) from err
        calls, errors = [], []
        for i, item in enumerate(envelope.batch):
            size = len(json.dumps(item))
            if size > MAX_CALL_BYTES:
                raise ApiError(413, f"batch[{i}] is over {MAX_CALL_BYTES // 1024} KB")
            merged = {"context": envelope.context, "sentAt": envelope.sentAt, **item}
            try:
                calls.append(SegmentCall.model_validate(merged))
            except ValidationError as err:
                errors.extend(field_errors(err, prefix=f"batch[{i}]."))
        if errors:
            raise ApiError(400, "invalid batch", errors)
        return await accept(request, calls)

    templates = load_templates(settings.templates_dir)
    plan = load_tracking_plan(settings.tracking_plan_file)
    app.include_router(
        management_router(settings, lambda request: request.app.state.client, templates, plan)
    )
    app.include_router(feedback_router(settings, lambda request: request.app.state.client))
    app.include_router(
        subscriptions_router(settings, load_topics(settings.templates_dir or SHIPPED))
    )
    app.include_router(recommendations_router(settings))
    app.include_router(segments_router(settings))
    app.include_router(experiments_router(settings))
    app.include_router(reports_router(settings))
    app.include_router(keys_router(settings))
    app.include_router(
        codec_router(settings, cors=False, dependencies=[Depends(admin_guard(settings))])
    )

    @app.get("/v1/popovers", summary="popovers to show this visitor now (display rules applied)")
    async def popovers(
        request: Request,
        userId: str | None = None,  # noqa: N803  (Segment's spelling)
        anonymousId: str | None = None,  # noqa: N803
        writeKey: str | None = None,  # noqa: N803
        sessionId: Annotated[str | None, Query(min_length=1, max_length=300)] = None,  # noqa: N803
        page: Annotated[str | None, Query(min_length=1, max_length=2000)] = None,
    ) -> list[dict[str, Any]]:
        """The website asks on each page view (write key as for tracking) and reports what it
        did with each popover as track events: `Popover Viewed`, `Popover Clicked`,
        `Popover Dismissed`, `Popover Submitted` with the popover's `popover_id`. Display rules:
        expiry, `JOURNEYS_POPOVERS_PER_DAY`, `JOURNEYS_POPOVERS_PER_SESSION` for the browsing
        session `sessionId`, and a template's `pages` globs matched against `page` (the path)."""
        authorize(request, {"writeKey": writeKey} if writeKey else {})
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
        shows_here = {
            name for name, t in templates.items() if t.popover and t.popover.shows_on(page)
        }

        def serve() -> list[dict[str, Any]]:
            with session_scope(settings.database_url) as session:
                customer_id = userId or resolve_anonymous(
                    session, anonymous_ids=[str(anonymousId)]
                ).get(str(anonymousId), ANONYMOUS_PREFIX + str(anonymousId))
                customer = session.get(Customer, customer_id)
                traits = dict(customer.traits) if customer else {}
                shown = []
                for message in due_popovers(
                    session, customer_id=customer_id, max_per_day=settings.popovers_per_day,
                    expiry=timedelta(days=settings.popover_expiry_days), session_id=sessionId,
                    max_per_session=settings.popovers_per_session, templates=shows_here,
                ):  # fmt: skip
                    context = render_context(
                        customer_id=customer_id, traits=traits,
                        properties=message.context.get("properties"),
                        products=message.context.get("products"),
                    )  # fmt: skip
                    try:
                        content = render(templates[message.template], "popover", context)
                    except RenderError as err:  # failed for good: later page views go on
                        message.status, message.reason = "failed", str(err)
                        session.add(message)
                        log.warning("popover_not_rendered", customer_id=customer_id,
                                    template=message.template, error=str(err))  # fmt: skip
                        continue
                    shown.append(
                        {
                            "popover_id": message.idempotency_key,
                            "kind": content["kind"],
                            "fields": content["fields"],
                            "journey": message.journey,
                        }
                    )
                return shown

        return await asyncio.to_thread(serve)

    @app.get("/metrics", dependencies=[Depends(admin_guard(settings))],
             summary="Prometheus metrics of this API process (admin key)")  # fmt: skip
    async def metrics() -> Response:
        return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)

    @app.get("/healthz", include_in_schema=False)
    async def health() -> dict[str, str]:
        return {"status": "ok"}

    return app
