"""The console: a sign-in form that keeps the admin key in a session cookie (Bearer and HTTP
Basic work too), the journeys at `/console`, and each journey's map at
`/console/journeys/{name}` — its steps laid out as a graph with the runs at each step now
(Temporal's visibility: the `JourneyStep` search attribute), the runs that did each step and
went along each edge, how runs ended and each send step's messages (the store)."""

import asyncio
import json
from datetime import timedelta
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
from journeys.api.inflections_chart import forest
from journeys.api.journey_map import journey_map, step_rows
from journeys.api.paths_chart import stage_flow
from journeys.api.routes.insights import CAVEAT, DEFAULT_GOAL, find_inflections
from journeys.api.routes.journeys import quoted
from journeys.api.routes.reports import From, To, last
from journeys.api.schemas import MAX_VERSION
from journeys.charts import page, table
from journeys.client import live_state, run_status
from journeys.kpis.inflections import MIN_EXPOSED
from journeys.kpis.reports import as_json, lift_text, rate_text
from journeys.store.inspect import customer_story
from journeys.store.journey_map import journey_map_counts
from journeys.store.journeys import get_version, list_journeys
from journeys.store.kpis import RunFilter
from journeys.store.paths import first_order_paths, segment_members, stage_moves
from journeys.store.reports import held_groups
from journeys.store.segments import list_segments
from journeys.vocabulary import search_attributes as sa
from journeys.vocabulary.journey_spec import JourneySpec

router = APIRouter(
    route_class=KeyFirstRoute, dependencies=[Depends(console_reader)], tags=["console"]
)
sign_in = APIRouter(tags=["console"])  # the form itself needs no key
SESSION_SECONDS = 8 * 3600
REFRESH_SECONDS = 30
PAGE = 50  # customers a step's page lists at a time
PATHS_WINDOW = timedelta(days=90)
CLICK_TO_STEP = """<script>
window.addEventListener("load", function () {
  var chart = document.getElementById("chart-journey-map");
  if (!chart || !chart.on) return;
  chart.on("plotly_click", function (clicked) {
    var step = clicked.points[0].customdata;
    if (step && step !== "(entry)") location.href = BASE + encodeURIComponent(step);
  });
});
</script>"""
SILENT = '<p class="warning">Temporal did not answer: the store speaks.</p>'
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
        '<p><a href="/console/paths">How customers move</a> · '
        '<a href="/console/inflections">Inflection points</a></p>'
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
    settings: SettingsDep,
    version: Annotated[int | None, Query(ge=1, le=MAX_VERSION)] = None,
) -> HTMLResponse:
    spec = await store.run(partial(get_version, name=name, version=version))
    if spec is None:
        which = f"version {version} of " if version else ""
        raise ApiError(404, f"no {which}journey {name!r}")
    journeys = await store.run(list_journeys)
    latest = next((j.latest_version for j in journeys if j.name == name), 1)
    counts = await store.run(partial(journey_map_counts, journey=name, version=version))
    runs = RunFilter(journey=name, version=version)
    held = await store.run(partial(held_groups, name=name, runs=runs,
                                   global_control=settings.global_control))  # fmt: skip
    lifts = "".join(f'<p class="lift">{escape(lift_text(as_json(lift)))}</p>'
                    for lift in held.values())  # fmt: skip
    now = await runs_now(client, spec, version)
    chart = await asyncio.to_thread(journey_map, spec, counts, now)
    shown = f"version {version}" if version else "all versions"
    base = f"/console/journeys/{quote(name)}"
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
        + lifts
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
                "opened / clicked",
            ],
            step_rows(spec, counts, now),
        )  # fmt: skip
        + "<p>Who is at a step now (or click the step): "
        + " · ".join(f'<a href="{base}/steps/{quote(s.id)}">{escape(s.id)}</a>' for s in spec.steps)
        + "</p>"
        + CLICK_TO_STEP.replace("BASE", json.dumps(f"{base}/steps/"))
    )
    return HTMLResponse(page(f"{spec.name}: journey map", body, refresh=REFRESH_SECONDS))


@router.get("/console/journeys/{name}/steps/{step}", response_class=HTMLResponse,
            summary="the customers at a step now, a page at a time")  # fmt: skip
async def step_page(
    name: str, step: str, client: ClientDep, store: StoreDep, after: str | None = None
) -> HTMLResponse:
    spec = await store.run(partial(get_version, name=name, version=None))
    if spec is None or step not in {s.id for s in spec.steps}:
        raise ApiError(404, f"no step {step!r} in journey {name!r}")
    query = (f"JourneyName = {quoted(name)} AND JourneyStep = {quoted(step)}"
             " AND ExecutionStatus = 'Running'")  # fmt: skip
    try:
        token = bytes.fromhex(after) if after else None
    except ValueError as err:
        raise ApiError(400, "invalid page", [{"field": "after", "reason": "not a page token"}]
                       ) from err  # fmt: skip
    try:
        listing = client.list_workflows(query, page_size=PAGE, next_page_token=token)
        await listing.fetch_next_page()
    except RPCError as err:
        raise ApiError(503, f"Temporal's visibility did not answer: {err.message}") from err
    rows = []
    for run in listing.current_page or []:
        customer = run.typed_search_attributes.get(sa.CUSTOMER_ID) or ""
        version = run.typed_search_attributes.get(sa.JOURNEY_VERSION)
        rows.append(f'<tr><td><a href="/console/customers/{quote(customer)}">'
                    f"{escape(customer)}</a></td><td>{escape(run.id)}</td><td>v{version}</td>"
                    f"<td>{run.start_time:%Y-%m-%d %H:%M}</td></tr>")  # fmt: skip
    more = listing.next_page_token
    next_link = f'<p><a href="?after={more.hex()}">next {PAGE}</a></p>' if more else ""
    body = (
        f'<p><a href="/console/journeys/{quote(name)}">{escape(name)}</a></p>'
        f"<h1>{escape(name)}: at {escape(step)} now</h1>"
        + ("<table><thead><tr><th>customer</th><th>run</th><th>version</th><th>started</th>"
           f"</tr></thead><tbody>{''.join(rows)}</tbody></table>" if rows
           else '<p class="none">Nobody is at this step now.</p>')
        + next_link
    )  # fmt: skip
    return HTMLResponse(page(f"{name}: {step}", body))


@router.get("/console/customers/{customer_id}", response_class=HTMLResponse,
            summary="one customer's story: stages, runs, messages and why")  # fmt: skip
async def customer_page(customer_id: str, client: ClientDep, store: StoreDep) -> HTMLResponse:
    story = await store.run(partial(customer_story, customer_id=customer_id))
    live = await live_state(client, customer_id)
    if not story["profile"] and not story["runs"] and live is None:
        raise ApiError(404, f"no customer {customer_id!r}")
    now = ("<p>Now: " + escape(f"{live['stage']}{' (at risk)' if live['at_risk'] else ''}, "
           f"{live['events_total']} events; segments: {', '.join(live['segments']) or 'none'}; "
           f"journeys: {', '.join(live['active_journeys']) or 'none'}") + "</p>"
           if live else SILENT)  # fmt: skip
    runs = "".join(
        f"<h3>{escape(run['workflow_id'])} (v{run['version']}): "
        f"{escape(run_status(run, live))}</h3>"
        + table(["at", "step", "result"],
                [[_t(s["at"]), s["step"], s["result"] or "–"] for s in run["steps"]])
        for run in story["runs"]
    )  # fmt: skip
    decisions = live["entry_decisions"] if live else []
    body = (
        f"<h1>customer {escape(customer_id)}</h1>{now}"
        "<h2>Stages</h2>"
        + table(["at", "from", "to", "cause"],
                [[_t(s["at"]), s["from"] or "–", s["to"], s["cause"]] for s in story["stages"]])
        + "<h2>Messages</h2>"
        + table(["at", "journey", "step", "channel", "template", "status", "reason"],
                [[_t(m["at"]), m["journey"], m["step"], m["channel"], m["template"],
                  m["status"], m["reason"]] for m in story["messages"]])
        + "<h2>Journeys</h2>" + (runs or '<p class="none">none</p>')
        + "<h2>Why it entered or not</h2>"
        + table(["at", "journey", "entered", "reason"],
                [[d["at"][:19], d["journey"], d["entered"], d["reason"]] for d in decisions])
        + "<h2>Next-best-action decisions</h2>"
        + table(["at", "journey", "step", "chosen"],
                [[_t(d["at"]), d["journey"], d["step"], d["chosen"]] for d in story["decisions"]])
    )  # fmt: skip
    return HTMLResponse(page(f"customer {customer_id}", body))


@router.get("/console/paths", response_class=HTMLResponse,
            summary="how customers really move: stage flow and paths to a first order")  # fmt: skip
async def paths_page(
    store: StoreDep,
    start: From = None,
    end: To = None,
    segment: Annotated[str | None, Query(max_length=64)] = None,
) -> HTMLResponse:
    start, end = last(start, end, PATHS_WINDOW)
    segments = [s.name for s in await store.run(list_segments)]
    segment = segment or None  # the form's "everyone"
    if segment is not None and segment not in segments:
        problem = {"field": "segment", "reason": f"no segment {segment!r}"}
        raise ApiError(400, "unknown segment", [problem])

    def gather(session: Any) -> Any:
        among = segment_members(session, segment, start, end) if segment else None
        moves = stage_moves(session, start=start, end=end, among=among)
        return moves, *first_order_paths(session, start=start, end=end, among=among)

    moves, paths, buyers = await store.run(gather)
    flow = await asyncio.to_thread(stage_flow, moves) if moves else (
        '<p class="none">No stage moves in this period.</p>')  # fmt: skip
    options = "".join(
        f'<option value="{escape(n)}"{" selected" if n == segment else ""}>{escape(n)}</option>'
        for n in segments
    )
    form = (
        '<form method="get">'
        f'From <input type="date" name="from" value="{start:%Y-%m-%d}"> '
        f'to <input type="date" name="to" value="{end:%Y-%m-%d}"> '
        f'segment <select name="segment"><option value="">everyone</option>{options}</select> '
        "<button>Show</button></form>"
    )  # fmt: skip
    who = f"the members of {segment}" if segment else "everyone"
    body = (
        '<p><a href="/console">all journeys</a></p>'
        f"<h1>How customers move: {escape(who)}, {start:%Y-%m-%d} to {end:%Y-%m-%d}</h1>"
        + form + "<h2>Lifecycle stages</h2>" + flow
        + f"<h2>Paths to a first order</h2><p>{buyers:,} customers placed their first order "
        "in this period; their commonest paths from first sighting (repeats in a row counted "
        "once, the last 8 events):</p>"
        + table(["path", "customers", "median hours to the order"],
                [[" → ".join(p.steps), p.customers, p.median_hours] for p in paths])
    )  # fmt: skip
    return HTMLResponse(page("how customers move", body))


@router.get("/console/inflections", response_class=HTMLResponse,
            summary="touchpoints after which a goal becomes markedly more likely")  # fmt: skip
async def inflections_page(
    store: StoreDep,
    goal: Annotated[str, Query(min_length=1, max_length=300)] = DEFAULT_GOAL,
    start: From = None,
    end: To = None,
) -> HTMLResponse:
    found, landmarks, start, end = await find_inflections(
        store, goal=goal, start=start, end=end, window_days=30
    )
    rows = [[f.touchpoint, f.exposed, rate_text(round(f.rate_exposed * f.exposed), f.exposed),
             rate_text(round(f.rate_unexposed * (landmarks - f.exposed)), landmarks - f.exposed),
             f"{f.lift:.2f}",
             f"{f.odds_ratio:.2f} ({f.low:.2f}–{f.high:.2f})",
             "< 0.001" if f.p_value < 0.001 else f"{f.p_value:.3f}", f.strata]
            for f in found]  # fmt: skip
    form = (
        '<form method="get">'
        f'Goal <input name="goal" value="{escape(goal)}"> '
        f'from <input type="date" name="from" value="{start:%Y-%m-%d}"> '
        f'to <input type="date" name="to" value="{end:%Y-%m-%d}"> <button>Show</button></form>'
    )  # fmt: skip
    body = (
        '<p><a href="/console">all journeys</a></p>'
        f"<h1>Inflection points: {escape(goal)}</h1>{form}"
        f'<p class="warning">This is {escape(CAVEAT)} (<a href="/docs#/journeys">an experiment '
        "step</a> in a journey splits customers at random).</p>"
        f"<p>{landmarks:,} stage entries from {start:%Y-%m-%d} to {end:%Y-%m-%d}, each followed "
        "30 days: a touchpoint counts when it came while in that stage, before the goal. "
        "Stages are pooled by Mantel-Haenszel; touchpoints with fewer than "
        f"{MIN_EXPOSED} customers are left out. Those whose interval leaves out 1 come first.</p>"
        + forest(found)
        + table(["touchpoint", "customers", "goal rate with", "without", "lift (risk ratio)",
                 "odds ratio (95% CI)", "p", "stages"], rows)
        + '<p class="note">Goal rates with their Wilson 95% intervals.</p>'
    )  # fmt: skip
    return HTMLResponse(page(f"inflection points: {goal}", body))


def _t(value: Any) -> str:
    return str(value)[:19]


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
