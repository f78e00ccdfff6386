"""Backtests (admin key): try a journey — a published version or a draft, or two side by side —
on the store's own calls of a past window, as `journeys backtest` does, run by a workflow
(`backtest-{id}`); poll for the report (JSON, or a page with charts), or cancel and keep the
partial one."""

import asyncio
from datetime import datetime, timedelta
from functools import partial
from typing import Annotated, Any
from uuid import uuid4

from fastapi import APIRouter, Depends, Query
from fastapi.responses import HTMLResponse
from pydantic import BaseModel, ConfigDict, Field, model_validator
from temporalio.client import WorkflowExecutionStatus
from temporalio.service import RPCError, RPCStatusCode

from journeys.api.deps import (
    ClientDep,
    KeyFirstRoute,
    SettingsDep,
    StoreDep,
    TemplatesDep,
    TrackingPlanDep,
    report_reader,
    require_admin,
)
from journeys.api.errors import ApiError
from journeys.api.routes.journeys import checked_spec
from journeys.api.routes.reports import last
from journeys.api.schemas import MAX_VERSION
from journeys.charts.backtest import render
from journeys.store.backtest_runs import (
    FINISHED,
    create_backtest,
    finish_backtest,
    get_backtest,
    list_backtests,
)
from journeys.store.journeys import get_version, latest_version
from journeys.store.models import BacktestRun
from journeys.vocabulary.backtest_types import (
    BACKTEST_WORKFLOW,
    BacktestInput,
    backtest_workflow_id,
)

router = APIRouter(
    route_class=KeyFirstRoute,
    prefix="/v1/backtests",
    dependencies=[Depends(require_admin)],
    tags=["backtests"],
)
# the page, for a browser: the admin key as Bearer or as an HTTP Basic password, as /reports
pages = APIRouter(route_class=KeyFirstRoute, dependencies=[Depends(report_reader)],
                  tags=["backtests"])  # fmt: skip
DEFAULT_WINDOW = timedelta(days=365)


class SpecChoice(BaseModel):
    """A published journey (`journey`, the latest `version` unless one is named), or a draft
    spec (`spec`, checked as publishing checks it, not published)."""

    model_config = ConfigDict(extra="forbid")
    journey: str | None = Field(default=None, min_length=1, max_length=64)
    version: int | None = Field(default=None, ge=1, le=MAX_VERSION)
    spec: dict[str, Any] | None = None

    @model_validator(mode="after")
    def one_of(self) -> "SpecChoice":
        if (self.journey is None) == (self.spec is None):
            raise ValueError("give journey (a published one) or spec (a draft), one of them")
        if self.version is not None and self.journey is None:
            raise ValueError("version goes with journey")
        return self


class BacktestRequest(BaseModel):
    """`a`, and `b` to compare with it, over the calls from `from` (inclusive; a year before
    `to` by default) until `to` (exclusive; now by default)."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)
    a: SpecChoice
    b: SpecChoice | None = None
    start: datetime | None = Field(default=None, alias="from")
    end: datetime | None = Field(default=None, alias="to")


@router.post("", status_code=202, summary="start a backtest; poll GET /v1/backtests/{id}")
async def start(
    body: BacktestRequest,
    store: StoreDep,
    client: ClientDep,
    settings: SettingsDep,
    plan: TrackingPlanDep,
    templates: TemplatesDep,
) -> dict[str, Any]:
    begin, end = last(body.start, body.end, DEFAULT_WINDOW)
    specs, sources = [], []
    for side, choice in (("a", body.a), ("b", body.b)):
        if choice is None:
            continue
        if choice.spec is not None:
            spec = checked_spec(choice.spec, plan, templates, field=f"{side}.spec")
            sources.append("draft")
        else:
            name = str(choice.journey)
            version = choice.version or await store.run(partial(latest_version, name=name))
            found = None
            if version is not None:
                found = await store.run(partial(get_version, name=name, version=version))
            if found is None:
                which = f"version {choice.version} of " if choice.version else ""
                reason = f"no {which}journey {choice.journey!r}"
                raise ApiError(400, "unknown journey", [{"field": f"{side}.journey",
                                                         "reason": reason}])  # fmt: skip
            spec = found
            sources.append(f"v{version}")
        specs.append(spec.model_dump(mode="json", by_alias=True, exclude_none=True))
    backtest_id = uuid4().hex[:16]
    request = {"specs": specs, "from": begin.isoformat(), "to": end.isoformat()}
    await store.run(lambda s: create_backtest(s, backtest_id=backtest_id, request=request))
    try:
        await client.start_workflow(
            BACKTEST_WORKFLOW,
            BacktestInput(
                backtest_id=backtest_id, specs=specs, start=begin, end=end, sources=sources
            ),
            id=backtest_workflow_id(backtest_id),
            task_queue=settings.task_queue,
        )
    except RPCError as err:
        said = err.message
        await store.run(lambda s: finish_backtest(s, backtest_id=backtest_id, status="failed",
                                                  report=None, error=said))  # fmt: skip
        raise ApiError(503, f"Temporal did not take the backtest: {said}") from err
    return {"id": backtest_id, "workflow_id": backtest_workflow_id(backtest_id),
            "status": "running", **_window(request), "journeys": _names(request)}  # fmt: skip


@router.get("", summary="recent backtests, newest first (without their reports)")
async def recent(
    store: StoreDep, limit: Annotated[int, Query(ge=1, le=500)] = 50
) -> list[dict[str, Any]]:
    runs = await store.run(lambda s: list_backtests(s, limit=limit))
    return [_summary(run) for run in runs]


@router.get("/{backtest_id}", summary="a backtest's status and, once done, its report")
async def one(backtest_id: str, store: StoreDep, client: ClientDep) -> dict[str, Any]:
    run = await _found(store, backtest_id)
    ended = await _workflow_ended(client, backtest_id) if run.status == "running" else None
    if ended:  # the activity writes the row before the workflow closes: read it again
        run = await _found(store, backtest_id)
    shown = {**_summary(run), "report": run.report, "error": run.error or None}
    if ended and run.status == "running":  # closed without its activity's word (terminated)
        shown.update(status="failed", error=f"the workflow ended: {ended}")
    return shown


@router.post("/{backtest_id}/cancel", status_code=202,
             summary="stop a running backtest; its partial report is kept")  # fmt: skip
async def cancel(backtest_id: str, store: StoreDep, client: ClientDep) -> dict[str, Any]:
    run = await _found(store, backtest_id)
    if run.status in FINISHED:
        raise ApiError(409, f"backtest {backtest_id} is already {run.status}")
    try:
        await client.get_workflow_handle(backtest_workflow_id(backtest_id)).cancel()
    except RPCError as err:
        if err.status != RPCStatusCode.NOT_FOUND:
            raise
        raise ApiError(409, f"backtest {backtest_id} has no running workflow") from err
    return {"id": backtest_id, "status": "stopping"}


@pages.get("/v1/backtests/{backtest_id}/page", response_class=HTMLResponse,
           summary="a finished backtest's report as a page with charts")  # fmt: skip
async def page(backtest_id: str, store: StoreDep) -> HTMLResponse:
    run = await _found(store, backtest_id)
    if run.report is None:
        raise ApiError(409, f"backtest {backtest_id} has no report ({run.status})")
    report = run.report
    reports = [report["a"], report["b"]] if "difference" in report else [report]
    return HTMLResponse(await asyncio.to_thread(render, reports))


async def _found(store: Any, backtest_id: str) -> BacktestRun:
    run = await store.run(lambda s: get_backtest(s, backtest_id))
    if run is None:
        raise ApiError(404, f"no backtest {backtest_id!r}")
    return run  # type: ignore[no-any-return]


async def _workflow_ended(client: Any, backtest_id: str) -> str | None:
    """How the backtest's workflow closed (terminated, timed_out, ...), or None if it runs."""
    try:
        described = await client.get_workflow_handle(backtest_workflow_id(backtest_id)).describe()
    except RPCError:
        return None
    if described.status in (None, WorkflowExecutionStatus.RUNNING):
        return None
    return str(described.status.name).lower()


def _window(request: dict[str, Any]) -> dict[str, Any]:
    return {"from": request.get("from"), "to": request.get("to")}


def _names(request: dict[str, Any]) -> list[str]:
    return [str(spec.get("name")) for spec in request.get("specs", [])]


def _summary(run: BacktestRun) -> dict[str, Any]:
    return {
        "id": run.backtest_id,
        "workflow_id": backtest_workflow_id(run.backtest_id),
        "status": run.status,
        "journeys": _names(run.request),
        **_window(run.request),
        "requested_at": run.requested_at.isoformat(),
        "finished_at": run.finished_at.isoformat() if run.finished_at else None,
    }
