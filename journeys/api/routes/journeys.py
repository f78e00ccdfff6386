"""Journeys (admin key): list, read a spec, publish a new version, enable, disable, archive,
pause and resume, and who is where (runs by step) and why (decisions)."""

import re
from typing import Annotated, Any

from fastapi import APIRouter, Body, Depends, Query
from pydantic import BaseModel, Field, ValidationError
from sqlmodel import Session
from temporalio.client import Client
from temporalio.service import RPCError, RPCStatusCode

from journeys.api.deps import (
    ClientDep,
    KeyFirstRoute,
    Store,
    StoreDep,
    TemplatesDep,
    TrackingPlanDep,
    require_admin,
)
from journeys.api.errors import ApiError
from journeys.api.schemas import MAX_VERSION
from journeys.channels.templates import Template, spec_template_problems
from journeys.store.decisions import decisions
from journeys.store.journeys import (
    CatalogError,
    NotFound,
    get_version,
    list_journeys,
    publish_spec,
    set_paused,
    set_status,
)
from journeys.vocabulary import search_attributes as sa
from journeys.vocabulary.journey_spec import JourneySpec, unrunnable_steps
from journeys.vocabulary.journey_types import OperatorCommand
from journeys.vocabulary.spec_errors import error_fields
from journeys.vocabulary.tracking_plan import TrackingPlan, plan_problems

router = APIRouter(
    route_class=KeyFirstRoute,
    prefix="/v1/journeys",
    dependencies=[Depends(require_admin)],
    tags=["journeys"],
)


class Pausing(BaseModel):
    reason: str = Field(default="paused by an operator", min_length=1, max_length=300)


IDENTIFIER = re.compile(r"^[a-z0-9_]{1,64}$")  # journey names and step ids (journey_spec)


def quoted(value: str) -> str:
    """A string literal for a visibility query (no way out of the quotes). Give it checked
    identifiers only: the dev server's SQLite visibility fails ("unterminated string") on a
    double quote inside the literal, and the SDK retries that as "unavailable"."""
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


@router.get("", summary="journeys with their status and latest version")
async def journeys(store: StoreDep) -> list[dict[str, Any]]:
    return await store.run(lambda s: [j.model_dump(mode="json") for j in list_journeys(s)])


@router.get("/{name}", summary="a journey's spec (latest, or ?version=N)")
async def journey(
    name: str, store: StoreDep, version: Annotated[int | None, Query(ge=1, le=MAX_VERSION)] = None
) -> dict[str, Any]:
    spec = await store.run(lambda s: get_version(s, name=name, version=version))
    if spec is None:
        which = f"version {version} of " if version else ""
        raise ApiError(404, f"no {which}journey {name!r}")
    return spec.model_dump(mode="json", by_alias=True)


@router.get("/{name}/runs", summary="who is where: a journey's runs, by step")
async def runs(
    name: str,
    client: ClientDep,
    store: StoreDep,
    step: str | None = None,
    status: Annotated[str, Query(pattern="^(running|closed|all)$")] = "running",
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> list[dict[str, Any]]:
    """From Temporal's visibility (search attributes), not from histories: `step` is where a
    run waits (docs/journeys.md, Runs). Runs their customers hold in the journey's first
    step, a wait, have no workflow yet: listed with status `held`, from the customers'
    `HeldJourneys`."""
    if not IDENTIFIER.match(name):  # no journey can have it; Temporal need not be asked
        raise ApiError(404, f"no journey {name!r}")
    if step is not None and not IDENTIFIER.match(step):
        reason = "a step id is lower-case letters, digits and _ (at most 64)"
        raise ApiError(400, "invalid step", [{"field": "step", "reason": reason}])
    clauses = [f"JourneyName = {quoted(name)}"]
    if step is not None:
        clauses.append(f"JourneyStep = {quoted(step)}")
    if status != "all":
        running = "ExecutionStatus = 'Running'"
        clauses.append(running if status == "running" else f"NOT ({running})")
    found = []
    async for run in client.list_workflows(" AND ".join(clauses), limit=limit):
        attributes = run.typed_search_attributes
        found.append(
            {
                "workflow_id": run.id,
                "customer_id": attributes.get(sa.CUSTOMER_ID),
                "version": attributes.get(sa.JOURNEY_VERSION),
                "step": attributes.get(sa.JOURNEY_STEP),
                "status": run.status.name.lower() if run.status else None,
                "started_at": run.start_time.isoformat(),
            }
        )
    spec = await store.run(lambda s: get_version(s, name=name))
    first = spec.steps[0].id if spec is not None else None
    if status != "closed" and step in (None, first) and len(found) < limit:
        query = f"HeldJourneys = {quoted(name)} AND ExecutionStatus = 'Running'"
        async for customer in client.list_workflows(query, limit=limit - len(found)):
            found.append(
                {
                    "workflow_id": None,  # numbered, but not started
                    "customer_id": customer.typed_search_attributes.get(sa.CUSTOMER_ID),
                    "version": None,
                    "step": first,
                    "status": "held",
                    "started_at": None,
                }
            )
    return found


@router.get("/{name}/decisions", summary="why customers got what they got")
async def journey_decisions(
    name: str,
    store: StoreDep,
    customerId: str | None = None,  # noqa: N803
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> list[dict[str, Any]]:
    """`decide` steps' choices, newest first, each with its inputs: the eligible actions,
    their past exposures and conversions, the Thompson draws, values, CLV, expected values."""

    def read(session: Session) -> list[dict[str, Any]]:
        if get_version(session, name=name) is None:
            raise ApiError(404, f"no journey {name!r}")
        rows = decisions(session, journey=name, customer_id=customerId, limit=limit)
        return [row.model_dump(mode="json") for row in rows]

    return await store.run(read)


def checked_spec(
    body: dict[str, Any], plan: TrackingPlan, templates: dict[str, Template], *, field: str = ""
) -> JourneySpec:
    """The spec as publishing checks it (shape, runnable steps, tracking plan, templates), or
    a 400 naming each field (under `field`, when the spec is part of a larger body)."""
    try:
        spec = JourneySpec.model_validate(body)
        lines = (
            unrunnable_steps(spec)
            + plan_problems(spec, plan)
            + spec_template_problems(spec, templates)
        )
        pairs = [("", line) for line in lines]
    except ValidationError as err:
        pairs = [pair for e in err.errors() for pair in error_fields(e, body)]
    if pairs:
        prefix = f"{field}." if field else ""
        errors = [_field_error(prefix, where, reason) for where, reason in pairs]
        raise ApiError(400, "invalid journey spec", errors)
    return spec


def _field_error(prefix: str, where: str, reason: str) -> dict[str, str]:
    """A problem as the API names it; one without a place names its field first ("a: b")."""
    if not where:
        where, _, rest = reason.partition(": ")
        reason = rest or reason
    return {"field": prefix + where, "reason": reason}


@router.post("", status_code=201, summary="publish a spec as a new version if changed")
async def publish(
    body: Annotated[dict[str, Any], Body()],
    store: StoreDep,
    plan: TrackingPlanDep,
    templates: TemplatesDep,
) -> dict[str, Any]:
    spec = checked_spec(body, plan, templates)
    try:
        result = await store.run(lambda s: publish_spec(s, spec=spec))
    except CatalogError as err:
        raise ApiError(409, str(err)) from err
    return {"name": result.name, "version": result.version, "created": result.created}


def _status_route(status: str) -> Any:
    async def change(name: str, store: StoreDep) -> dict[str, Any]:
        try:
            return await store.run(
                lambda s: set_status(s, name=name, status=status).model_dump(mode="json")  # type: ignore[arg-type]
            )
        except NotFound as err:
            raise ApiError(404, str(err)) from err

    return change


for _command, _status in (("enable", "active"), ("disable", "disabled"), ("archive", "archived")):
    router.post(f"/{{name}}/{_command}", summary=f"{_command} a journey")(_status_route(_status))


@router.post("/{name}/pause", summary="hold every run in place, nobody messaged")
async def pause(
    name: str, store: StoreDep, client: ClientDep, body: Pausing | None = None
) -> dict[str, Any]:
    """Runs wait before their next step and before any message; new entries start waiting.
    Nobody is dropped: `resume` lets them all go on where they stood."""
    return await _pause_or_resume(name, store, client, (body or Pausing()).reason)


@router.post("/{name}/resume", summary="let a paused journey's runs go on")
async def resume(name: str, store: StoreDep, client: ClientDep) -> dict[str, Any]:
    return await _pause_or_resume(name, store, client, None)


async def _pause_or_resume(
    name: str, store: Store, client: Client, reason: str | None
) -> dict[str, Any]:
    try:
        journey = await store.run(
            lambda s: set_paused(s, name=name, reason=reason).model_dump(mode="json")
        )
    except NotFound as err:
        raise ApiError(404, str(err)) from err
    signal, command = ("pause", OperatorCommand(reason=reason, journey_wide=True)) if reason \
        else ("resume", OperatorCommand(journey_wide=True))  # fmt: skip
    query = f"JourneyName = {quoted(name)} AND ExecutionStatus = 'Running'"
    signalled = 0
    try:
        async for found in client.list_workflows(query):
            try:
                await client.get_workflow_handle(found.id).signal(signal, command)
                signalled += 1
            except RPCError as err:  # ended meanwhile
                if err.status != RPCStatusCode.NOT_FOUND:
                    raise
    except RPCError as err:  # the store says paused; runs check it themselves every 10 min
        raise ApiError(503, f"journey {signal}d, but runs not told yet: {err}",
                       headers={"Retry-After": "5"}) from err  # fmt: skip
    return {**journey, "runs_signalled": signalled}
