"""The console (admin key, as Bearer or as an HTTP Basic password, as /reports): a journey's
map at `/console/journeys/{name}` — its steps laid out as a graph with the runs at each step
now (Temporal's visibility: the `JourneyStep` search attribute), the runs that did each step and
went along each edge, how runs ended and each send step's messages (the store)."""

import asyncio
from functools import partial
from html import escape
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query
from fastapi.responses import HTMLResponse
from temporalio.client import Client
from temporalio.service import RPCError

from journeys.api.deps import ClientDep, KeyFirstRoute, StoreDep, report_reader
from journeys.api.errors import ApiError
from journeys.api.journey_map import journey_map, step_rows
from journeys.api.routes.journeys import quoted
from journeys.api.schemas import MAX_VERSION
from journeys.charts import page, table
from journeys.store.journey_map import journey_map_counts
from journeys.store.journeys import get_version, list_journeys
from journeys.vocabulary.journey_spec import JourneySpec

router = APIRouter(
    route_class=KeyFirstRoute, dependencies=[Depends(report_reader)], tags=["console"]
)
REFRESH_SECONDS = 30
VISIBILITY_TIMEOUT = 5.0  # seconds for all the step counts; past it the page says "–"


@router.get("/console/journeys/{name}", response_class=HTMLResponse,
            summary="a journey's map: who is where, who went which way")  # fmt: skip
async def journey_page(
    name: str,
    store: StoreDep,
    client: ClientDep,
    version: Annotated[int | None, Query(ge=1, le=MAX_VERSION)] = None,
) -> HTMLResponse:
    spec = await store.run(partial(get_version, name=name, version=version))
    if spec is None:
        which = f"version {version} of " if version else ""
        raise ApiError(404, f"no {which}journey {name!r}")
    journeys = await store.run(list_journeys)
    latest = next((j.latest_version for j in journeys if j.name == name), 1)
    counts = await store.run(partial(journey_map_counts, journey=name, version=version))
    now = await runs_now(client, spec, version)
    chart = await asyncio.to_thread(journey_map, spec, counts, now)
    shown = f"version {version}" if version else "all versions"
    selector = " · ".join(
        ['<a href="?">all</a>']
        + [f'<a href="?version={v}">v{v}</a>' for v in range(1, latest + 1)]
    )  # fmt: skip
    unknown = '<p class="warning">Temporal did not answer: runs here now are not shown.</p>'
    note = "" if now is not None else unknown
    body = (
        f"<h1>{escape(spec.name)} ({shown})</h1>"
        f'<p class="note">{escape(spec.description or "")}</p>'
        f"<p>Versions: {selector}. The page refreshes every {REFRESH_SECONDS} s.</p>{note}"
        + chart
        + "<h2>Steps</h2>"
        + table(
            [
                "step",
                "kind",
                "here now",
                "did it",
                "ended after it",
                "conversion after it",
                "messages",
            ],
            step_rows(spec, counts, now),
        )  # fmt: skip
    )
    return HTMLResponse(page(f"{spec.name}: journey map", body, refresh=REFRESH_SECONDS))


async def runs_now(client: Client, spec: JourneySpec, version: int | None) -> dict[str, int] | None:
    """Running runs at each step, counted by visibility; None if Temporal cannot say."""
    base = f"JourneyName = {quoted(spec.name)} AND ExecutionStatus = 'Running'"
    if version is not None:
        base += f" AND JourneyVersion = {version}"

    async def count(step: str) -> tuple[str, int]:
        found = await client.count_workflows(f"{base} AND JourneyStep = {quoted(step)}")
        return step, found.count

    try:
        pairs: Any = await asyncio.wait_for(
            asyncio.gather(*(count(s.id) for s in spec.steps)), VISIBILITY_TIMEOUT
        )
    except (RPCError, TimeoutError):  # no visibility store, or too slow: the page says so
        return None
    return dict(pairs)
