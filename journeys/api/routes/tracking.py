"""Segment-compatible tracking: `POST /v1/identify`, `/track`, `/page`, `/screen`, `/group`,
`/alias` and `/v1/batch` (alias `/v1/import`), with a write key, Segment's size limits and
gzip bodies; every call goes through `ingest` (api/ingest.py)."""

import json
import math
import zlib
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse
from pydantic import ValidationError
from temporalio.client import Client

from journeys.api.auth import check_write_key
from journeys.api.deps import ClientDep, IngestorDep, KeyFirstRoute, SettingsDep
from journeys.api.errors import ApiError, field_errors
from journeys.api.ingest import DeliveryFailed, Ingestor, event_time
from journeys.api.schemas import SegmentBatch, SegmentCall
from journeys.config.metrics import EVENTS_INGESTED

MAX_CALL_BYTES = 32 * 1024  # Segment: 32 KB per call
MAX_BATCH_BYTES = 500 * 1024  # Segment: 500 KB per batch request
CALL_TYPES = ("identify", "track", "page", "screen", "group", "alias")

router = APIRouter(route_class=KeyFirstRoute, prefix="/v1", tags=["tracking"])


async def read_body(request: Request) -> dict[str, Any]:
    """The JSON object of the request, within Segment's limits, gzip inflated."""
    limit = MAX_BATCH_BYTES if request.url.path.endswith(("/batch", "/import")) else MAX_CALL_BYTES
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
        body = json.loads(raw, parse_constant=_not_a_number, parse_float=_finite)
    except (ValueError, RecursionError) as err:  # ValueError: also a 5,000-digit integer
        raise ApiError(
            400, "body is not valid JSON", [{"field": "body", "reason": str(err)[:200]}]
        ) from err
    if not isinstance(body, dict):
        raise ApiError(
            400, "body must be a JSON object", [{"field": "body", "reason": "not an object"}]
        )
    problem = unstorable(body)
    if problem:
        raise ApiError(400, "body cannot be stored", [problem])
    return body


def _not_a_number(constant: str) -> float:
    raise ValueError(f"{constant} is not JSON (a number must be finite)")


def _finite(text: str) -> float:
    number = float(text)
    if math.isinf(number):
        raise ValueError(f"{text[:20]}... is too large for a number")
    return number


MAX_DEPTH = 32  # objects and arrays within each other; Segment's own payloads need a handful


def unstorable(body: dict[str, Any]) -> dict[str, str] | None:
    """What in a parsed body no store or workflow could keep, as a field error: nesting past
    MAX_DEPTH, a lone surrogate (not Unicode: no UTF-8 encoding exists), or a NUL character
    (PostgreSQL's text and JSON refuse it)."""
    stack: list[tuple[str, Any, int]] = [("", body, 1)]
    while stack:
        path, value, depth = stack.pop()
        if isinstance(value, dict | list):
            if depth > MAX_DEPTH:
                return {"field": path or "body", "reason": f"nested deeper than {MAX_DEPTH}"}
            items = value.items() if isinstance(value, dict) else enumerate(value)
            for key, item in items:
                if isinstance(key, str) and (reason := _bad_text(key)):
                    return {"field": f"{path}.{key!r}".lstrip("."), "reason": f"key {reason}"}
                child = f"{path}.{key}" if isinstance(key, str) else f"{path}[{key}]"
                stack.append((child.lstrip("."), item, depth + 1))
        elif isinstance(value, str) and (reason := _bad_text(value)):
            return {"field": path or "body", "reason": reason}
    return None


def _bad_text(text: str) -> str | None:
    if "\x00" in text:
        return "contains a NUL character"
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return "contains a lone surrogate (not Unicode text)"
    return None


async def authorized_body(request: Request, settings: SettingsDep) -> dict[str, Any]:
    """The body, once its write key is accepted; the key itself is taken out. A key in the
    header (HTTP Basic, Segment's way) is checked before the body is read; without one the
    key must be `writeKey` in a body that can be read, else the caller is unknown (401)."""
    if request.headers.get("authorization", "").lower().startswith("basic "):
        check_write_key(settings, request)
        body = await read_body(request)
    else:
        try:
            body = await read_body(request)
        except ApiError as err:
            raise ApiError(
                401,
                "missing or unknown write key (send it as the HTTP Basic user name)",
                headers={"WWW-Authenticate": "Basic"},
            ) from err
        check_write_key(settings, request, body.get("writeKey"))
    body.pop("writeKey", None)
    return body


TrackingBody = Annotated[dict[str, Any], Depends(authorized_body)]


FUTURE_LIMIT = timedelta(days=1)  # beyond any honest clock once sentAt has corrected skew


def too_far_ahead(calls: list[SegmentCall], prefixes: list[str]) -> list[dict[str, str]]:
    """Field errors for calls whose event time (after Segment's clock-skew correction) is more
    than a day after now — such a time would make the customer look active, and goal windows
    open, for years — or cannot be computed at all."""
    now = datetime.now(UTC)
    errors = []
    for call, prefix in zip(calls, prefixes, strict=True):
        try:
            ahead = event_time(call, now) > now + FUTURE_LIMIT
        except OverflowError:
            errors.append({"field": f"{prefix}sentAt", "reason": "the clock-skew correction "
                           "(sentAt - originalTimestamp) leaves the calendar"})  # fmt: skip
            continue
        if ahead:
            errors.append({"field": f"{prefix}timestamp", "reason": "more than a day in the "
                           "future (after the sentAt clock-skew correction)"})  # fmt: skip
    return errors


async def accept(calls: list[SegmentCall], client: Client, ingestor: Ingestor) -> JSONResponse:
    """`{"success": true}` once Temporal has every call; 503 (retry) if it does not."""
    try:
        new = await ingestor.ingest(calls, client)
    except DeliveryFailed as err:
        raise ApiError(
            503, f"Temporal unavailable, retry: {err}", headers={"Retry-After": "2"}
        ) from err
    EVENTS_INGESTED.inc(new)
    return JSONResponse({"success": True})


def _call_route(call_type: str) -> Callable[..., Awaitable[JSONResponse]]:
    async def route(body: TrackingBody, client: ClientDep, ingestor: IngestorDep) -> JSONResponse:
        try:
            call = SegmentCall.model_validate({**body, "type": call_type})
        except ValidationError as err:
            raise ApiError(400, "invalid call", field_errors(err)) from err
        future = too_far_ahead([call], [""])
        if future:
            raise ApiError(400, "invalid call", future)
        return await accept([call], client, ingestor)

    route.__name__ = call_type
    return route


for _type in CALL_TYPES:
    router.post(f"/{_type}", summary=f"Segment {_type}")(_call_route(_type))


@router.post("/batch", summary="Segment batch")
@router.post("/import", include_in_schema=False)
async def batch(body: TrackingBody, client: ClientDep, ingestor: IngestorDep) -> JSONResponse:
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
    errors += (
        too_far_ahead(calls, [f"batch[{i}]." for i in range(len(calls))]) if not errors else []
    )
    if errors:
        raise ApiError(400, "invalid batch", errors)
    return await accept(calls, client, ingestor)
