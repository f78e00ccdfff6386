"""The console's journey map: the spec laid out as a layered graph (grandalf), each step with
the runs there now (visibility, on the dev server), the runs that did it and how they ended,
each edge with the runs that took it, each send step's messages (the store)."""

import asyncio
import uuid
from collections import Counter
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
import pytest_asyncio
import yaml
from temporalio.testing import WorkflowEnvironment

from journeys.api.app import create_app
from journeys.api.journey_map import layout, step_rows
from journeys.config.settings import Settings
from journeys.store.catalog import catalog_version
from journeys.store.db import session_scope, upgrade_schema
from journeys.store.journey_map import ENTRY, journey_map_counts
from journeys.store.journeys import publish_spec
from journeys.store.models import (
    Customer,
    Event,
    JourneyEvent,
    Message,
    SegmentMembership,
    StageEntry,
)
from journeys.store.paths import first_order_paths, segment_members, stage_moves
from journeys.vocabulary.journey_spec import JourneySpec
from journeys.worker.main import build_worker
from tests.helpers.api import ADMIN, ADMIN_KEY
from tests.helpers.browser import open_page
from tests.helpers.events import event
from tests.helpers.journeys import send

MAPPED = JourneySpec.model_validate(
    yaml.safe_load("""
name: mapped
trigger: {event: Order Completed}
goal: {event: Product Reviewed}
steps:
  - {id: thanks, kind: send, channel: email, template: order_thanks}
  - {id: pause, kind: wait, duration: 1d}
  - id: split
    kind: branch
    cases: [{when: "stage == 'loyalty'", goto: vip}]
  - {id: tips, kind: send, channel: email, template: getting_started_tips}
  - {id: bye, kind: exit, reason: regular}
  - {id: vip, kind: send, channel: email, template: win_back_whats_new, next: pause}
""")
)
RUNS = {  # the steps each run did, and how it ended (None: still open)
    "r1": (["thanks", "pause", "split", "tips", "bye"], "exited"),
    "r2": (["thanks", "pause", "split", "vip", "pause", "split", "tips", "bye"], "exited"),
    "r3": (["thanks", "pause", "split", "tips"], "converted"),
    "r4": (["thanks"], None),
}


def seed(url: str) -> None:
    at = datetime(2025, 6, 1, tzinfo=UTC)
    with session_scope(url) as session:
        publish_spec(session, spec=MAPPED)
        for run, (steps, ending) in RUNS.items():
            kinds = [("entered", None), *(("step", s) for s in steps)]
            kinds += [(ending, None)] if ending else []
            for seq, (kind, step) in enumerate(kinds, start=1):
                session.add(JourneyEvent(
                    key=f"{run}:{seq}", workflow_id=run, seq=seq, customer_id=run,
                    journey="mapped", version=1, kind=kind, step=step,
                    at=at + timedelta(minutes=seq),
                ))  # fmt: skip
        for n, (step, status, reason, outcome, engaged) in enumerate([
            ("thanks", "sent", "", None, ("opened_at", "machine_opened_at")),
            ("thanks", "sent", "", "delivered", ("machine_opened_at", "machine_clicked_at")),
            ("thanks", "sent", "", None, ()),
            ("thanks", "skipped", "no email address", None, ()),
            ("vip", "sent", "", "bounced", ()),
        ]):  # fmt: skip
            session.add(Message(
                idempotency_key=f"k{n}", customer_id=f"r{n}", journey="mapped", step=step,
                channel="email", template="t", status=status, reason=reason, outcome=outcome,
                **dict.fromkeys(engaged, at),
            ))  # fmt: skip


def test_the_counts_follow_each_run_record_by_record(sqlite_url: str) -> None:
    upgrade_schema(sqlite_url)
    seed(sqlite_url)
    with session_scope(sqlite_url) as session:
        counts = journey_map_counts(session, journey="mapped", version=None)
    assert counts.entered == 4
    assert counts.reached["pause"] == 3 and counts.reached["split"] == 3  # r2 twice: once
    assert counts.reached["tips"] == 3 and counts.reached["vip"] == 1
    assert counts.edges[(ENTRY, "thanks")] == 4
    assert counts.edges[("split", "vip")] == 1 and counts.edges[("vip", "pause")] == 1
    assert counts.edges[("split", "tips")] == 3
    assert counts.ended["bye"] == {"exited": 2} and counts.ended["tips"] == {"converted": 1}
    assert counts.open_after == {"thanks": 1}
    assert counts.messages["thanks"] == {"sent": 3, "skipped: no email address": 1}
    assert counts.messages["vip"] == {"sent, then bounced": 1}  # the provider's later word
    # Apple's proxy opened two of the three, the gateway's scanner clicked one; one person opened
    assert counts.engagement["thanks"] == Counter(
        {"sent": 3, "opened": 1, "machine opened": 2, "machine clicked": 1}
    )  # missing kinds are 0
    assert counts.engagement["vip"] == Counter({"sent": 1, "bounced": 1})
    assert counts.converted_after == {"thanks": 1, "pause": 1, "split": 1, "tips": 1}
    rows = step_rows(MAPPED, counts, None)
    assert rows[0][5] == "25.0% [4.6–69.9]"  # thanks: 1 of the 4 reached the goal later
    # a spec without a goal: its runs cannot reach one, so no rate of 0 either
    goalless = MAPPED.model_copy(update={"goal": None})
    assert {row[5] for row in step_rows(goalless, counts, None)} == {"no goal"}


def test_the_layout_puts_each_step_below_the_ones_leading_to_it() -> None:
    y = {name: at[1] for name, at in layout(MAPPED).items()}
    assert y[ENTRY] > y["thanks"] > y["pause"] > y["split"]
    assert y["split"] > y["tips"] > y["bye"]
    assert y["split"] > y["vip"]  # the loop back to pause is drawn upwards
    x = {name: at[0] for name, at in layout(MAPPED).items()}
    assert x["tips"] != x["vip"] or y["tips"] != y["vip"]  # the branches do not overlap


@pytest_asyncio.fixture(loop_scope="session")
async def console(
    dev_env: WorkflowEnvironment, sqlite_url: str
) -> AsyncIterator[httpx.AsyncClient]:
    upgrade_schema(sqlite_url)
    seed(sqlite_url)
    app = create_app(Settings(database_url=sqlite_url, admin_key=ADMIN_KEY), client=dev_env.client)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://api") as client:
        yield client


async def test_the_map_page_shows_every_step_with_its_figures(console: httpx.AsyncClient) -> None:
    page = await console.get("/console/journeys/mapped", headers=ADMIN)
    assert page.status_code == 200, page.text[:500]
    html = page.text
    assert '<meta http-equiv="refresh" content="30">' in html
    assert 'data-chart="journey-map"' in html
    assert "Temporal did not answer" not in html  # the dev server counted the runs (none)
    # step, kind, here now, did it, ended after it, conversion after it, messages, engagement
    # every rate with its Wilson 95% interval
    assert ("<tr><td>tips</td><td>send</td><td>0</td><td>3</td><td>converted 1</td>"
            "<td>33.3% [6.1–79.2]</td><td></td><td></td></tr>") in html  # fmt: skip
    assert ("<tr><td>thanks</td><td>send</td><td>0</td><td>4</td><td></td>"
            "<td>25.0% [4.6–69.9]</td><td>sent 3, skipped: no email address 1</td>"
            "<td>opened 1 (33.3% [6.1–79.2]), clicked 0 (0.0% [0.0–56.1]); by a machine:"
            " opened 2, clicked 1</td></tr>") in html  # fmt: skip
    assert '<a href="?version=1">v1</a>' in html
    assert (
        await console.get("/console/journeys/mapped?version=2", headers=ADMIN)
    ).status_code == 404
    assert (await console.get("/console/journeys/nope", headers=ADMIN)).status_code == 404
    assert (await console.get("/console/journeys/mapped")).status_code == 303  # sign in first


async def test_a_browser_signs_in_once_and_the_cookie_opens_the_console(
    console: httpx.AsyncClient,
) -> None:
    away = await console.get("/console/journeys/mapped?version=1")
    assert away.status_code == 303
    assert (
        away.headers["location"]
        == "/console/sign-in?next=%2Fconsole%2Fjourneys%2Fmapped%3Fversion%3D1"
    )
    form = await console.get(away.headers["location"])
    assert form.status_code == 200 and 'type="password" name="key"' in form.text
    wrong = await console.post("/console/sign-in", data={"key": "guess", "next": "/console"})
    assert wrong.status_code == 303 and "failed=true" in wrong.headers["location"]
    assert "not an admin key" in (await console.get(wrong.headers["location"])).text
    assert "journeys_console" not in console.cookies
    done = await console.post(
        "/console/sign-in", data={"key": ADMIN_KEY, "next": "/console/journeys/mapped"}
    )
    assert done.status_code == 303 and done.headers["location"] == "/console/journeys/mapped"
    cookie = done.headers["set-cookie"].lower()
    assert "httponly" in cookie and "samesite=strict" in cookie and "path=/console" in cookie
    assert (await console.get("/console/journeys/mapped")).status_code == 200  # the cookie
    index = await console.get("/console")
    assert (
        index.status_code == 200 and '<a href="/console/journeys/mapped">mapped</a>' in index.text
    )
    assert (await console.get("/v1/backtests")).status_code == 401  # the console's only
    out = await console.post("/console/sign-out")
    assert out.status_code == 303 and "journeys_console" not in console.cookies
    assert (await console.get("/console")).status_code == 303


async def test_the_sign_in_stays_on_the_console_and_a_stale_cookie_is_refused(
    console: httpx.AsyncClient,
) -> None:
    done = await console.post(
        "/console/sign-in", data={"key": ADMIN_KEY, "next": "https://elsewhere.example/"}
    )
    assert done.headers["location"] == "/console"
    console.cookies.clear()
    console.cookies.set("journeys_console", "revoked-key", path="/console")
    assert (await console.get("/console")).status_code == 401


WAITING = yaml.safe_load("""
name: waiting
trigger: {event: Demo Requested}
steps:
  - {id: hello, kind: update_profile, traits: {greeted: true}}
  - {id: linger, kind: wait, duration: 30d}
""")


@pytest.mark.slow
@pytest.mark.browser
async def test_a_step_lists_the_customers_there_and_each_has_a_page(
    dev_env: WorkflowEnvironment, sqlite_url: str, task_queue: str, tmp_path: Path
) -> None:
    """A real run waiting at a step (dev server, worker): the map counts it there now, the
    step's page lists its customer, whose page tells the run step by step; both pages open
    in headless Chromium."""
    settings = Settings(database_url=sqlite_url, task_queue=task_queue, admin_key=ADMIN_KEY)
    upgrade_schema(sqlite_url)
    app = create_app(settings, client=dev_env.client)
    transport = httpx.ASGITransport(app=app)
    async with (
        build_worker(dev_env.client, settings),
        httpx.AsyncClient(transport=transport, base_url="http://api") as http,
    ):
        assert (await http.post("/v1/journeys", json=WAITING, headers=ADMIN)).status_code == 201
        with session_scope(sqlite_url) as session:
            catalog = catalog_version(session)
        cid = f"c-{uuid.uuid4().hex[:8]}"
        await send(dev_env.client, settings, cid, event("Demo Requested"), catalog=catalog)
        listed = ""
        for _ in range(100):  # visibility is eventually consistent
            listed = (await http.get("/console/journeys/waiting/steps/linger", headers=ADMIN)).text
            if cid in listed:
                break
            await asyncio.sleep(0.1)
        assert f'<a href="/console/customers/{cid}">{cid}</a>' in listed
        assert "journey-waiting-" in listed
        mapped = (await http.get("/console/journeys/waiting", headers=ADMIN)).text
        assert "<tr><td>linger</td><td>wait</td><td>1</td>" in mapped  # here now: one
        assert '<a href="/console/journeys/waiting/steps/linger">linger</a>' in mapped
        story = await http.get(f"/console/customers/{cid}", headers=ADMIN)
        assert story.status_code == 200
        assert "journeys: waiting" in story.text  # the live state: in the journey
        assert "<td>hello</td>" in story.text  # the run's first step, done
        assert "(v1): running, now: step linger, until " in story.text  # where it waits
        assert (await http.get("/console/customers/nobody", headers=ADMIN)).status_code == 404
        nowhere = await http.get("/console/journeys/waiting/steps/nope", headers=ADMIN)
        assert nowhere.status_code == 404
        bad = await http.get("/console/journeys/waiting/steps/linger?after=zz", headers=ADMIN)
        assert bad.status_code == 400 and bad.json()["errors"][0]["field"] == "after"
    for name, html in (("console-step", listed), ("console-customer", story.text)):
        drawn = open_page(html, tmp_path, name)
        assert drawn.ready and drawn.errors == "" and drawn.outside == [], name


@pytest.mark.browser
async def test_the_console_pages_draw_in_a_browser_with_the_stores_figures(
    console: httpx.AsyncClient, sqlite_url: str, tmp_path: Path
) -> None:
    """Sign-in, index, map and paths in headless Chromium: nothing from outside, no script
    error, each chart's figures the store's (a screenshot of each in build/screenshots)."""
    for name, path in (("console-sign-in", "/console/sign-in"), ("console", "/console")):
        drawn = open_page((await console.get(path, headers=ADMIN)).text, tmp_path, name)
        assert drawn.ready and drawn.errors == "" and drawn.outside == [], name

    drawn = open_page(
        (await console.get("/console/journeys/mapped", headers=ADMIN)).text, tmp_path, "console-map"
    )
    assert drawn.ready and drawn.errors == "" and drawn.outside == []
    assert drawn.rendered == "1 charts"
    with session_scope(sqlite_url) as session:
        counts = journey_map_counts(session, journey="mapped", version=None)
    [steps] = drawn.charts["chart-journey-map"]
    assert len(steps["text"]) == len(MAPPED.steps) + 1  # the entry and every step
    assert f"{counts.entered:,} entered" in steps["text"][0]
    for step, text in zip(MAPPED.steps, steps["text"][1:], strict=True):
        assert f"{counts.reached.get(step.id, 0):,} did it" in text, (step.id, text)

    seed_paths(sqlite_url)
    shown = await console.get("/console/paths?from=2025-06-01&to=2025-07-01", headers=ADMIN)
    drawn = open_page(shown.text, tmp_path, "console-paths")
    assert drawn.ready and drawn.errors == "" and drawn.outside == []
    june, july = datetime(2025, 6, 1, tzinfo=UTC), datetime(2025, 7, 1, tzinfo=UTC)
    with session_scope(sqlite_url) as session:
        moves = stage_moves(session, start=june, end=july)
    [flow] = drawn.charts["chart-stage-flow"]
    nodes, link = flow["node"]["label"], flow["link"]
    drawn_moves = {
        (nodes[a].removeprefix("from "), nodes[b].removeprefix("to ")): value
        for a, b, value in zip(link["source"], link["target"], link["value"], strict=True)
    }
    assert drawn_moves == dict(moves)


def seed_paths(url: str) -> None:
    """Three buyers and a browser in June 2025: ann browsed anonymously (a1) before signing
    up; bob and cy went straight to an order; dee only looked. Cy fell back a stage."""
    day = datetime(2025, 6, 2, 9, tzinfo=UTC)
    timelines = {
        "anon-a1": ["page", "page", "Product Viewed"],
        "ann": ["identify", "Product Viewed", "Order Completed", "Order Completed"],
        "bob": ["page", "Product Viewed", "Order Completed"],
        "cy": ["page", "Product Viewed", "Order Completed"],
        "dee": ["page", "Product Viewed"],
    }
    with session_scope(url) as session:
        session.add(
            Customer(customer_id="anon-a1", merged_into="ann", created_at=day, updated_at=day)
        )  # the visitor identified as ann
        for who, names in timelines.items():
            for n, name in enumerate(names):
                at = day + timedelta(hours=n + (5 if who == "ann" else 0))
                kind = name if name in ("page", "identify") else "track"
                session.add(Event(
                    message_id=f"{who}-{n}", customer_id=who, type=kind,
                    event=None if kind != "track" else name, timestamp=at, received_at=at,
                    delivered_at=at, payload={},
                ))  # fmt: skip
        moves = [("bob", None, "awareness"), ("bob", "awareness", "onboarding"),
                 ("cy", None, "awareness"), ("cy", "awareness", "loyalty"),
                 ("cy", "loyalty", "onboarding"), ("dee", None, "awareness")]  # fmt: skip
        for n, (who, previous, stage) in enumerate(moves):
            session.add(StageEntry(customer_id=who, at=day + timedelta(minutes=n),
                                   stage=stage, previous=previous, cause="x"))  # fmt: skip
        session.add(SegmentMembership(customer_id="bob", segment="champions", entered_at=day))


def test_paths_join_anonymous_browsing_to_the_customer_and_count_each_path(sqlite_url):
    upgrade_schema(sqlite_url)
    seed_paths(sqlite_url)
    june, july = datetime(2025, 6, 1, tzinfo=UTC), datetime(2025, 7, 1, tzinfo=UTC)
    with session_scope(sqlite_url) as session:
        paths, buyers = first_order_paths(session, start=june, end=july)
        moves = stage_moves(session, start=june, end=july)
        only = segment_members(session, "champions", june, july)
        bob = first_order_paths(session, start=june, end=july, among=only)
    assert buyers == 3
    assert [(p.steps, p.customers) for p in paths] == [
        (("page", "Product Viewed", "Order Completed"), 2),
        (("page", "Product Viewed", "identify", "Product Viewed", "Order Completed"), 1),
    ]
    assert paths[1].median_hours == 7.0  # ann: first seen as a1 at 09:00, ordered at 16:00
    assert moves[("loyalty", "onboarding")] == 1 and moves[("(first seen)", "awareness")] == 3
    assert bob[1] == 1 and only == {"bob"}


async def test_the_paths_page_draws_the_flow_and_lists_the_paths(
    console: httpx.AsyncClient, sqlite_url: str
) -> None:
    seed_paths(sqlite_url)
    shown = await console.get("/console/paths?from=2025-06-01&to=2025-07-01", headers=ADMIN)
    assert shown.status_code == 200, shown.text[:300]
    assert 'data-chart="stage-flow"' in shown.text and "rgba(220,38,38" in shown.text  # backward
    assert "<td>page → Product Viewed → Order Completed</td><td>2</td><td>2.0</td>" in shown.text
    assert "3 customers placed their first order" in shown.text
    unknown = await console.get("/console/paths?segment=nope", headers=ADMIN)
    assert unknown.status_code == 400 and unknown.json()["errors"][0]["field"] == "segment"
    backwards = await console.get("/console/paths?from=2025-07-01&to=2025-06-01", headers=ADMIN)
    assert backwards.status_code == 400
