"""The console: a sign-in form that keeps the admin key in a session cookie (Bearer and HTTP
Basic work too), the journeys at `/console`, and each journey's map at
`/console/journeys/{name}` — its steps laid out as a graph with the runs at each step now
(Temporal's visibility: the `JourneyStep` search attribute), the runs that did each step and
went along each edge, how runs ended and each send step's messages (the store)."""

import asyncio
from functools import partial
from html import escape
from typing import Annotated, Any
from urllib.parse import parse_qs, quote, urlencode

from fastapi import APIRouter, Depends, Query, Request, Response
from fastapi.responses import HTMLResponse, RedirectResponse
from temporalio.client import Client
from temporalio.service import RPCError

from journeys.api.auth import CONSOLE_COOKIE, is_admin_key
from journeys.api.deps import ClientDep, KeyFirstRoute, SettingsDep, StoreDep, console_reader
from journeys.api.errors import ApiError
from journeys.api.journey_map import journey_map, step_rows
from journeys.api.routes.journeys import quoted
from journeys.api.schemas import MAX_VERSION
from journeys.charts import page, table
from journeys.store.journey_map import journey_map_counts
from journeys.store.journeys import get_version, list_journeys
from journeys.vocabulary.journey_spec import JourneySpec

router = APIRouter(
    route_class=KeyFirstRoute, dependencies=[Depends(console_reader)], tags=["console"]
)
sign_in = APIRouter(tags=["console"])  # the form itself needs no key
SESSION_SECONDS = 8 * 3600
REFRESH_SECONDS = 30
VISIBILITY_TIMEOUT = 5.0  # seconds for all the step counts; past it the page says "–"


@sign_in.get("/console/sign-in", response_class=HTMLResponse, summary="the sign-in form")
async def sign_in_form(next: str = "/console", failed: bool = False) -> HTMLResponse:
    return HTMLResponse(_form(_local(next), failed))


@sign_in.post("/console/sign-in", summary="keep the admin key in a session cookie")
async def sign_in_submit(request: Request, settings: SettingsDep) -> Response:
    if len(await request.body()) > 4096:
        raise ApiError(413, "the sign-in form is a key and a path")
    form = parse_qs((await request.body()).decode(errors="replace"))
    key, target = form.get("key", [""])[0], _local(form.get("next", ["/console"])[0])
    if not await asyncio.to_thread(is_admin_key, settings, key):  # the form again, saying so
        again = "/console/sign-in?" + urlencode({"next": target, "failed": "true"})
        return RedirectResponse(again, status_code=303)
    done = RedirectResponse(target, status_code=303)
    done.set_cookie(CONSOLE_COOKIE, key, max_age=SESSION_SECONDS, path="/console",
                    httponly=True, samesite="strict",
                    secure=request.url.scheme == "https")  # fmt: skip
    return done


@sign_in.post("/console/sign-out", summary="forget the session cookie")
async def sign_out() -> Response:
    done = RedirectResponse("/console/sign-in", status_code=303)
    done.delete_cookie(CONSOLE_COOKIE, path="/console")
    return done


def _local(target: str) -> str:
    """Only a path of this console: a sign-in never sends the browser elsewhere."""
    return target if target.startswith("/console") and "//" not in target else "/console"


def _form(target: str, failed: bool) -> str:
    warning = '<p class="warning">That is not an admin key.</p>' if failed else ""
    return page("journeys console: sign in", (
        f"<h1>journeys console</h1>{warning}"
        '<form method="post" action="/console/sign-in">'
        '<label>Admin key <input type="password" name="key" autocomplete="current-password" '
        "required autofocus></label> "
        f'<input type="hidden" name="next" value="{escape(target)}">'
        '<button type="submit">Sign in</button></form>'
        '<p class="note">The key is kept in a cookie for this console only, for 8 hours.</p>'
    ))  # fmt: skip


@router.get("/console", response_class=HTMLResponse, summary="the journeys, each with its map")
async def index(store: StoreDep) -> HTMLResponse:
    journeys = await store.run(list_journeys)
    rows = "".join(
        f'<tr><td><a href="/console/journeys/{quote(j.name)}">{escape(j.name)}</a></td>'
        f"<td>{escape(j.status)}</td><td>{j.latest_version}</td></tr>"
        for j in journeys
    )
    body = (
        "<h1>journeys console</h1>"
        '<form method="post" action="/console/sign-out"><button>Sign out</button></form>'
        "<table><thead><tr><th>journey</th><th>status</th><th>latest version</th></tr></thead>"
        f"<tbody>{rows}</tbody></table>"
    )
    return HTMLResponse(page("journeys console", body))


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
        '<p><a href="/console">all journeys</a></p>'
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
