"""Reports (admin key, as Bearer or as an HTTP Basic password so a browser can open the page):
JSON under `/v1/reports/...` and the HTML report page `GET /reports` (api/report_page.py).
Read-only: the same documents as `journeys report` (store/reports.py)."""

from datetime import UTC, datetime, timedelta
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query
from fastapi.responses import HTMLResponse
from sqlmodel import Session

from journeys.api.deps import KeyFirstRoute, SettingsDep, StoreDep, report_reader
from journeys.api.errors import ApiError
from journeys.api.report_page import PageData, render_page
from journeys.api.schemas import MAX_VERSION
from journeys.kpis.reports import as_json
from journeys.store.kpis import RunFilter, customer_value
from journeys.store.reports import (
    UnknownJourney,
    UnknownVersion,
    clv_report,
    funnel_report,
    journey_report,
    journeys_report,
    nps_report,
)

From = Annotated[
    datetime | None,
    Query(alias="from", description="entries (answers) at or after this instant (UTC if naive)"),
]
To = Annotated[
    datetime | None, Query(alias="to", description="entries before this instant (exclusive)")
]
Version = Annotated[
    int | None, Query(ge=1, le=MAX_VERSION, description="only runs of this journey version")
]
Period = Literal["day", "week", "month"]


def _utc(value: datetime | None) -> datetime | None:
    if value is None:
        return None
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def window(start: datetime | None, end: datetime | None) -> tuple[datetime | None, ...]:
    """A query's `from` and `to` in UTC (naive ones are UTC); 400 unless `to` is after `from`."""
    start, end = _utc(start), _utc(end)
    if start is not None and end is not None and end <= start:
        raise ApiError(400, "invalid request", [{"field": "to", "reason": "must be after from"}])
    return start, end


def last(
    start: datetime | None, end: datetime | None, span: timedelta
) -> tuple[datetime, datetime]:
    """`window`, a missing `to` being now and a missing `from` `span` before `to`."""
    start, end = window(start, end)
    end = end or datetime.now(UTC)
    start = start or end - span
    window(start, end)  # a `from` given after a defaulted `to`
    return start, end


router = APIRouter(
    route_class=KeyFirstRoute, dependencies=[Depends(report_reader)], tags=["reports"]
)


@router.get("/v1/reports/journeys", summary="conversion per journey")
async def journeys(
    store: StoreDep, start: From = None, end: To = None, version: Version = None
) -> list[dict[str, Any]]:
    """Runs entered in the period, runs that reached the goal (within its window) and the
    rate with a 95% Wilson interval, per journey."""
    start, end = window(start, end)
    runs = RunFilter(version=version, start=start, end=end)
    return as_json(await store.run(lambda s: journeys_report(s, runs=runs)))  # type: ignore[no-any-return]


@router.get("/v1/reports/journeys/{name}", summary="one journey's conversion in detail")
async def journey(
    name: str,
    store: StoreDep,
    settings: SettingsDep,
    start: From = None,
    end: To = None,
    version: Version = None,
    period: Period = "week",
) -> dict[str, Any]:
    """Per step (runs that reached it), experiment variant (with P(best), the chi-square
    test and the sample ratio check), segment (the customer's segments when the run
    entered) and period of entry; with a holdout or a global control group, the goal rate
    of the held out against the rest and the lift with its interval."""
    start, end = window(start, end)
    runs = RunFilter(version=version, start=start, end=end)
    try:
        report = await store.run(lambda s: journey_report(
            s, name=name, runs=runs, period=period, global_control=settings.global_control
        ))  # fmt: skip
    except UnknownVersion as err:
        raise ApiError(400, "unknown version", [{"field": "version", "reason": str(err)}]) from err
    if report is None:
        raise ApiError(404, f"no journey {name!r}")
    return as_json(report)  # type: ignore[no-any-return]


@router.get("/v1/reports/funnel", summary="the lifecycle funnel")
async def funnel(store: StoreDep, start: From = None, end: To = None) -> dict[str, Any]:
    """Per stage: customers who entered it, how many later entered the next stage, the
    median and mean days in it; and every move between stages, backward ones marked."""
    start, end = window(start, end)
    return as_json(await store.run(lambda s: funnel_report(s, start=start, end=end)))  # type: ignore[no-any-return]


@router.get("/v1/reports/nps", summary="Net Promoter Score per period and journey")
async def nps(
    store: StoreDep,
    period: Period = "week",
    journey: Annotated[str | None, Query(min_length=1, max_length=64)] = None,
    start: From = None,
    end: To = None,
) -> dict[str, Any]:
    """`NPS Submitted` answers (`properties.score`, 0-10); an answer counts for a journey
    when the customer entered a run of it within the 30 days before answering."""
    start, end = window(start, end)
    try:
        report = await store.run(
            lambda s: nps_report(s, period=period, journey=journey, start=start, end=end)
        )
    except UnknownJourney as err:
        raise ApiError(404, str(err)) from err
    return as_json(report)  # type: ignore[no-any-return]


@router.get("/v1/reports/clv", summary="historic customer value")
async def clv(
    store: StoreDep,
    customer_id: Annotated[
        str | None, Query(alias="customerId", min_length=1, max_length=300)
    ] = None,
) -> dict[str, Any]:
    """One customer's order total, order count, first and last order (`?customerId=`),
    else the distribution over customers with orders (mean, median, p90) and the top ten."""
    if customer_id is None:
        return as_json(await store.run(clv_report))  # type: ignore[no-any-return]
    value = await store.run(lambda s: customer_value(s, customer_id=customer_id))
    if value is None:
        raise ApiError(404, f"no customer {customer_id!r}")
    return as_json(value)  # type: ignore[no-any-return]


@router.get("/reports", response_class=HTMLResponse, summary="the report page")
async def page(
    store: StoreDep,
    start: From = None,
    end: To = None,
    version: Version = None,
    period: Period = "week",
) -> HTMLResponse:
    """Funnel, conversion over time, experiment results and the NPS trend, for a browser
    (HTTP Basic: any user name, the admin key as password)."""
    start, end = window(start, end)
    runs = RunFilter(version=version, start=start, end=end)
    data = await store.run(lambda s: page_data(s, runs, period))
    return HTMLResponse(render_page(data), headers={"Cache-Control": "no-store"})


def page_data(session: Session, runs: RunFilter, period: Period) -> PageData:
    journeys = journeys_report(session, runs=runs)
    details = [journey_report(session, name=j.key, runs=runs, period=period) for j in journeys]
    found = [d for d in details if d is not None]
    parts = [f"from {runs.start:%Y-%m-%d %H:%M}" if runs.start else "since the start",
             f"to {runs.end:%Y-%m-%d %H:%M}" if runs.end else "until now"]  # fmt: skip
    if runs.version:
        parts.append(f"version {runs.version}")
    return PageData(
        journeys=journeys,
        # a journey without a goal has no conversion to draw (a flat 0% line would say it failed)
        over_time={d.journey: d.over_time for d in found if not d.no_goal},
        experiments={d.journey: d.experiments for d in found if d.experiments},
        funnel=funnel_report(session, start=runs.start, end=runs.end),
        nps=nps_report(session, period=period, start=runs.start, end=runs.end),
        clv=clv_report(session),
        period=period,
        filters=" ".join(parts) + " (UTC)",
    )
