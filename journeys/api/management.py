"""Management endpoints (journeys, human tasks; templates from journeys/api/templates.py), all behind the
admin key (`JOURNEYS_ADMIN_KEY`, sent as `Authorization: Bearer <key>`)."""

import asyncio
from collections.abc import Callable
from typing import Annotated, Any

from fastapi import APIRouter, Body, Depends, Query, Request
from pydantic import BaseModel, Field, ValidationError
from temporalio.client import Client
from temporalio.service import RPCError, RPCStatusCode

from journeys.api.auth import admin_guard
from journeys.api.errors import ApiError
from journeys.api.templates import templates_router
from journeys.channels.templates import Template, spec_template_problems
from journeys.cli.specs import describe_error
from journeys.config.settings import Settings
from journeys.store.db import session_scope
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
from journeys.store.models import Task
from journeys.store.tasks import TaskError, complete_task, expire_task, list_tasks, reopen_task
from journeys.vocabulary import search_attributes as sa
from journeys.vocabulary.journey_spec import JourneySpec, unrunnable_steps
from journeys.vocabulary.journey_types import OperatorCommand, TaskOutcome
from journeys.vocabulary.tracking_plan import TrackingPlan, plan_problems


class Completion(BaseModel):
    outcome: str


class Pausing(BaseModel):
    reason: str = Field(default="paused by an operator", min_length=1, max_length=300)


def management_router(
    settings: Settings,
    client: Callable[[Request], Client],
    templates: dict[str, Template],
    plan: TrackingPlan,
) -> APIRouter:
    admin = Depends(admin_guard(settings))
    router = APIRouter(prefix="/v1", dependencies=[admin], tags=["management"])
    url = settings.database_url

    def run(fn: Callable[[], Any]) -> Any:
        return asyncio.to_thread(fn)

    @router.get("/journeys", summary="journeys with their status and latest version")
    async def journeys() -> list[dict[str, Any]]:
        def read() -> list[dict[str, Any]]:
            with session_scope(url) as session:
                return [j.model_dump(mode="json") for j in list_journeys(session)]

        return await run(read)

    @router.get("/journeys/{name}", summary="a journey's spec (latest, or ?version=N)")
    async def journey(
        name: str, version: Annotated[int | None, Query(ge=1)] = None
    ) -> dict[str, Any]:
        def read() -> JourneySpec | None:
            with session_scope(url) as session:
                return get_version(session, name=name, version=version)

        spec = await run(read)
        if spec is None:
            which = f"version {version} of " if version else ""
            raise ApiError(404, f"no {which}journey {name!r}")
        return spec.model_dump(mode="json", by_alias=True)

    @router.get("/journeys/{name}/runs", summary="who is where: a journey's runs, by step")
    async def runs(
        name: str,
        request: Request,
        step: str | None = None,
        status: Annotated[str, Query(pattern="^(running|closed|all)$")] = "running",
        limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    ) -> list[dict[str, Any]]:
        """From Temporal's visibility (search attributes), not from histories."""
        clauses = [f"JourneyName = {_quoted(name)}"]
        if step is not None:
            clauses.append(f"JourneyStep = {_quoted(step)}")
        if status != "all":
            running = "ExecutionStatus = 'Running'"
            clauses.append(running if status == "running" else f"NOT ({running})")
        found = []
        async for run in client(request).list_workflows(" AND ".join(clauses), limit=limit):
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
        return found

    @router.get("/journeys/{name}/decisions", summary="why customers got what they got")
    async def journey_decisions(
        name: str,
        customerId: str | None = None,  # noqa: N803
        limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    ) -> list[dict[str, Any]]:
        """`decide` steps' choices, newest first, each with its inputs: the eligible actions,
        their past exposures and conversions, the Thompson draws, values, CLV, expected values."""

        def read() -> list[dict[str, Any]]:
            with session_scope(url) as session:
                if get_version(session, name=name) is None:
                    raise ApiError(404, f"no journey {name!r}")
                rows = decisions(session, journey=name, customer_id=customerId, limit=limit)
                return [row.model_dump(mode="json") for row in rows]

        return await run(read)

    @router.post("/journeys", status_code=201, summary="publish a spec as a new version if changed")
    async def publish(body: Annotated[dict[str, Any], Body()]) -> dict[str, Any]:
        try:
            spec = JourneySpec.model_validate(body)
            lines = (
                unrunnable_steps(spec)
                + plan_problems(spec, plan)
                + spec_template_problems(spec, templates)
            )
        except ValidationError as err:
            lines = [line for e in err.errors() for line in describe_error(e, body)]
        if lines:
            pairs = [line.split(": ", 1) for line in lines]
            errors = [{"field": pair[0], "reason": pair[-1]} for pair in pairs]
            raise ApiError(400, "invalid journey spec", errors)

        def write() -> dict[str, Any]:
            with session_scope(url) as session:
                result = publish_spec(session, spec=spec)
            return {"name": result.name, "version": result.version, "created": result.created}

        try:
            return await run(write)
        except CatalogError as err:
            raise ApiError(409, str(err)) from err

    for command, status in (("enable", "active"), ("disable", "disabled"), ("archive", "archived")):

        async def change(name: str, status: str = status) -> dict[str, Any]:
            def write() -> dict[str, Any]:
                with session_scope(url) as session:
                    return set_status(session, name=name, status=status).model_dump(mode="json")  # type: ignore[arg-type]

            try:
                return await run(write)
            except NotFound as err:
                raise ApiError(404, str(err)) from err

        router.post(f"/journeys/{{name}}/{command}", summary=f"{command} a journey")(change)

    @router.post("/journeys/{name}/pause", summary="hold every run in place, nobody messaged")
    async def pause(name: str, request: Request, body: Pausing | None = None) -> dict[str, Any]:
        """Runs wait before their next step and before any message; new entries start waiting.
        Nobody is dropped: `resume` lets them all go on where they stood."""
        return await _pause_or_resume(name, request, (body or Pausing()).reason)

    @router.post("/journeys/{name}/resume", summary="let a paused journey's runs go on")
    async def resume(name: str, request: Request) -> dict[str, Any]:
        return await _pause_or_resume(name, request, None)

    async def _pause_or_resume(name: str, request: Request, reason: str | None) -> dict[str, Any]:
        def write() -> dict[str, Any]:
            with session_scope(url) as session:
                return set_paused(session, name=name, reason=reason).model_dump(mode="json")

        try:
            journey = await run(write)
        except NotFound as err:
            raise ApiError(404, str(err)) from err
        signal, command = ("pause", OperatorCommand(reason=reason, journey_wide=True)) if reason \
            else ("resume", OperatorCommand())  # fmt: skip
        query = f"JourneyName = {_quoted(name)} AND ExecutionStatus = 'Running'"
        signalled = 0
        try:
            async for found in client(request).list_workflows(query):
                try:
                    await client(request).get_workflow_handle(found.id).signal(signal, command)
                    signalled += 1
                except RPCError as err:  # ended meanwhile
                    if err.status != RPCStatusCode.NOT_FOUND:
                        raise
        except RPCError as err:  # the store says paused; runs check it themselves every 10 min
            raise ApiError(503, f"journey {signal}d, but runs not told yet: {err}",
                           headers={"Retry-After": "5"}) from err  # fmt: skip
        return {**journey, "runs_signalled": signalled}

    @router.get("/tasks", summary="human tasks, by team and status (default: open)")
    async def tasks(team: str | None = None, status: str | None = "open") -> list[dict[str, Any]]:
        def read() -> list[dict[str, Any]]:
            with session_scope(url) as session:
                return [
                    t.model_dump(mode="json") for t in list_tasks(session, team=team, status=status)
                ]

        return await run(read)

    @router.post("/tasks/{task_id}/complete", summary="answer a human task with an outcome")
    async def complete(task_id: str, body: Completion, request: Request) -> dict[str, Any]:
        def write() -> Task:
            with session_scope(url) as session:
                return complete_task(session, task_id=task_id, outcome=body.outcome)

        try:
            task: Task = await run(write)
        except TaskError as err:
            raise ApiError(err.status, str(err)) from err
        try:  # the journey learns the outcome; if it cannot, the completion is undone
            await (
                client(request)
                .get_workflow_handle(task.workflow_id)
                .signal("task_completed", TaskOutcome(task_id=task_id, outcome=body.outcome))
            )
        except RPCError as err:
            if err.status == RPCStatusCode.NOT_FOUND:
                await run(lambda: _expire(url, task_id))
                raise ApiError(409, "the journey run has ended; the task is expired") from err
            await run(lambda: _reopen(url, task_id))
            raise ApiError(
                503, "Temporal unavailable, retry", headers={"Retry-After": "2"}
            ) from err
        return task.model_dump(mode="json")

    router.include_router(templates_router(settings, templates))
    return router


def _quoted(value: str) -> str:
    """A string literal for a visibility query (no way out of the quotes)."""
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


def _expire(url: str, task_id: str) -> None:
    with session_scope(url) as session:
        reopen_task(session, task_id=task_id)
        expire_task(session, task_id=task_id)


def _reopen(url: str, task_id: str) -> None:
    with session_scope(url) as session:
        reopen_task(session, task_id=task_id)
