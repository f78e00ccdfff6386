"""Segments (admin key): save a definition (`PUT`, refused with every problem and where),
list, read, members, archive and activate, and a customer's segments with their history."""

from typing import Annotated, Any

from fastapi import APIRouter, Body, Depends, Query
from sqlmodel import Session

from journeys.api.deps import KeyFirstRoute, StoreDep, require_admin
from journeys.api.errors import ApiError
from journeys.segments.definition import DefinitionError, Problem, parse_definition
from journeys.store.models import Customer, Segment, SegmentMembership
from journeys.store.segment_sql import compile_problems
from journeys.store.segments import (
    NotFound,
    customer_memberships,
    definition_of,
    get_segment,
    list_segments,
    members,
    save_segment,
    set_segment_status,
)

router = APIRouter(
    route_class=KeyFirstRoute,
    prefix="/v1",
    dependencies=[Depends(require_admin)],
    tags=["segments"],
)


def _summary(row: Segment) -> dict[str, Any]:
    return {
        "name": row.name,
        "version": row.version,
        "status": row.status,
        "description": row.spec.get("description", ""),
        "updated_at": row.updated_at.isoformat(),
    }


def _stay(row: SegmentMembership) -> dict[str, Any]:
    return {
        "segment": row.segment,
        "customer_id": row.customer_id,
        "entered_at": row.entered_at.isoformat(),
        "exited_at": row.exited_at.isoformat() if row.exited_at else None,
    }


@router.put("/segments/{name}", summary="save a segment definition (new version if changed)")
async def save(
    name: str, body: Annotated[dict[str, Any], Body()], store: StoreDep
) -> dict[str, Any]:
    """The body is the definition (`condition`, optional `description`; `name`, if given,
    must be the path's). 400 lists every unknown field or operator, bad value, or part
    that cannot be compiled to SQL, each with its `field` path and `reason`."""
    if body.get("name", name) != name:
        raise ApiError(400, "invalid segment", [
            {"field": "name", "reason": f"{body['name']!r} differs from the path's {name!r}"}
        ])  # fmt: skip
    try:
        definition = parse_definition({**body, "name": name})
        problems = [Problem(field="condition", reason=p) for p in compile_problems(definition)]
    except DefinitionError as err:
        problems = err.problems
    if problems:
        raise ApiError(400, "invalid segment", [p.model_dump() for p in problems])
    result = await store.run(lambda s: save_segment(s, definition=definition))
    return {"name": result.name, "version": result.version, "created": result.created,
            "changed": result.changed}  # fmt: skip


@router.get("/segments", summary="segments with their status and version")
async def index(store: StoreDep) -> list[dict[str, Any]]:
    return await store.run(lambda s: [_summary(row) for row in list_segments(s)])


@router.get("/segments/{name}", summary="a segment's definition")
async def show(name: str, store: StoreDep) -> dict[str, Any]:
    def read(session: Session) -> dict[str, Any] | None:
        row = get_segment(session, name=name)
        if row is None:
            return None
        document = definition_of(row).model_dump(mode="json", by_alias=True, exclude_none=True)
        return {**_summary(row), "definition": document}

    found = await store.run(read)
    if found is None:
        raise ApiError(404, f"no segment {name!r}")
    return found


@router.get("/segments/{name}/members", summary="the customers in a segment now")
async def segment_members(
    name: str,
    store: StoreDep,
    limit: Annotated[int, Query(ge=1, le=10000)] = 1000,
    after: Annotated[str | None, Query(description="the last customer id of a page")] = None,
) -> dict[str, Any]:
    def read(session: Session) -> dict[str, Any] | None:
        if get_segment(session, name=name) is None:
            return None
        rows = members(session, segment=name, limit=limit, after=after)
        return {"segment": name, "members": [_stay(row) for row in rows],
                "next": rows[-1].customer_id if len(rows) == limit else None}  # fmt: skip

    found = await store.run(read)
    if found is None:
        raise ApiError(404, f"no segment {name!r}")
    return found


def _status_route(status: str) -> Any:
    async def change(name: str, store: StoreDep) -> dict[str, Any]:
        try:
            return await store.run(
                lambda s: _summary(set_segment_status(s, name=name, status=status))  # type: ignore[arg-type]
            )
        except NotFound as err:
            raise ApiError(404, str(err)) from err

    return change


router.post(
    "/segments/{name}/archive",
    summary="archive: no longer evaluated, members leave at the next refresh",
)(_status_route("archived"))
router.post("/segments/{name}/activate", summary="evaluate again")(_status_route("active"))


@router.get("/customers/{customer_id}/segments", summary="a customer's segments and history")
async def customer_segments(customer_id: str, store: StoreDep) -> dict[str, Any]:
    def read(session: Session) -> dict[str, Any] | None:
        if session.get(Customer, customer_id) is None:
            return None
        history = customer_memberships(session, customer_id=customer_id, history=True)
        return {
            "customer_id": customer_id,
            "segments": sorted({row.segment for row in history if row.exited_at is None}),
            "history": [_stay(row) for row in history],
        }

    found = await store.run(read)
    if found is None:
        raise ApiError(404, f"no customer {customer_id!r}")
    return found
