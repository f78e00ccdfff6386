"""Reports over HTTP: the JSON endpoints and the report page, behind the admin key (Bearer, or
HTTP Basic for browsers), on the store of tests/helpers/report_data.py; and the page in headless
Chromium against a real server."""

import base64
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import pytest_asyncio
from fastapi import FastAPI

from journeys.api.app import create_app
from journeys.api.report_page import render_page
from journeys.api.routes.reports import page_data
from journeys.config.settings import Settings
from journeys.store.db import session_scope
from journeys.store.kpis import RunFilter
from tests.helpers.browser import open_page
from tests.helpers.http import serving
from tests.helpers.report_data import ADMIN_KEY, seed

BEARER = {"Authorization": f"Bearer {ADMIN_KEY}"}


def basic(user: str, password: str) -> dict[str, str]:
    token = base64.b64encode(f"{user}:{password}".encode()).decode()
    return {"Authorization": f"Basic {token}"}


def reports_app(url: str) -> FastAPI:
    """The API as `journeys api` serves it, without Temporal (reports read the store only)."""
    settings = Settings(database_url=url, admin_key=ADMIN_KEY, write_keys=["wk"])
    return create_app(settings, client=object())  # type: ignore[arg-type]


@pytest.fixture
def store(sqlite_url: str) -> str:
    seed(sqlite_url)
    return sqlite_url


@pytest_asyncio.fixture(loop_scope="session")
async def http(store: str) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=reports_app(store))
    async with httpx.AsyncClient(transport=transport, base_url="http://api") as client:
        yield client


PATHS = [
    "/v1/reports/journeys",
    "/v1/reports/journeys/cart",
    "/v1/reports/funnel",
    "/v1/reports/nps",
    "/v1/reports/clv",
    "/reports",
]
WRONG = [
    {},
    {"Authorization": "Bearer wrong"},
    {"Authorization": "Basic x"},
    basic("admin", "wrong"),
    basic(ADMIN_KEY, ""),  # the key as user name (the write keys' way) is not the admin's
]


@pytest.mark.parametrize("path", PATHS)
@pytest.mark.parametrize("headers", WRONG)
async def test_every_report_refuses_without_the_admin_key(
    http: httpx.AsyncClient, path: str, headers: dict[str, str]
) -> None:
    r = await http.get(path, headers=headers)
    assert r.status_code == 401, r.text
    assert r.headers["www-authenticate"] == 'Basic realm="journeys reports"'


@pytest.mark.parametrize("path", PATHS)
async def test_bearer_and_basic_with_any_user_name_are_accepted(
    http: httpx.AsyncClient, path: str
) -> None:
    for headers in (BEARER, basic("admin", ADMIN_KEY), basic("", ADMIN_KEY)):
        assert (await http.get(path, headers=headers)).status_code == 200, (path, headers)


async def test_basic_does_not_open_the_other_admin_endpoints(http: httpx.AsyncClient) -> None:
    """A browser resends remembered Basic credentials by itself: only the read-only reports
    take them, never the endpoints that change things."""
    r = await http.get("/v1/journeys", headers=basic("admin", ADMIN_KEY))
    assert r.status_code == 401 and r.headers["www-authenticate"] == "Bearer"
    assert (await http.get("/v1/journeys", headers=BEARER)).status_code == 200


async def test_journey_reports(http: httpx.AsyncClient) -> None:
    r = await http.get("/v1/reports/journeys", headers=BEARER)
    assert [(j["key"], j["entries"], j["conversions"], j["no_goal"]) for j in r.json()] == [
        ("cart", 7, 4, False),
        ("welcome", 1, 0, True),  # its spec has no goal: its rate is no figure of it
    ]
    assert (await http.get("/v1/reports/journeys/welcome", headers=BEARER)).json()["no_goal"]
    r = await http.get("/v1/reports/journeys?from=2026-01-12&to=2026-01-19", headers=BEARER)
    assert [(j["key"], j["entries"], j["conversions"]) for j in r.json()] == [("cart", 4, 2)]
    r = await http.get("/v1/reports/journeys/cart?version=1&period=day", headers=BEARER)
    body = r.json()
    assert body["conversion"]["entries"] == 6 and body["period"] == "day"
    assert {s["key"]: s["entries"] for s in body["steps"]} == {"grace": 6, "split": 4, "email": 4}
    [split] = body["experiments"]
    assert [(v["name"], v["exposures"], v["conversions"]) for v in split["variants"]] == [
        ("a", 2, 1),
        ("b", 2, 2),
    ]
    assert 0 < split["variants"][1]["probability_best"] < 1
    assert {s["key"]: s["entries"] for s in body["segments"]} == {"vip": 3}
    assert (await http.get("/v1/reports/journeys/nope", headers=BEARER)).status_code == 404


async def test_funnel_nps_and_clv(http: httpx.AsyncClient) -> None:
    funnel = (await http.get("/v1/reports/funnel", headers=BEARER)).json()
    assert funnel["stages"][0] == {
        "stage": "awareness", "customers": 4, "next_stage": "consideration", "advanced": 3,
        "rate": 0.75, "median_days": 2.0, "mean_days": 2.0, "stays": 3, "still_in": 1,
    }  # fmt: skip
    assert {"source": "loyalty", "target": "consideration", "count": 1, "backward": True} in (
        funnel["moves"]
    )
    nps = (await http.get("/v1/reports/nps?period=week&journey=cart", headers=BEARER)).json()
    r = await http.get("/v1/reports/nps?journey=nope", headers=BEARER)
    assert r.status_code == 404 and "no journey 'nope'" in r.json()["error"]
    assert nps["overall"]["responses"] == 3 and nps["journey"] == "cart"
    assert [(f["key"], f["score"]) for f in nps["trend"]] == [
        ("2026-01-05", 50.0),
        ("2026-02-09", 100.0),
    ]
    clv = (await http.get("/v1/reports/clv", headers=BEARER)).json()
    assert (clv["customers"], clv["mean"], clv["median"], clv["p90"]) == (4, 100.0, 90.0, 185.0)
    one = (await http.get("/v1/reports/clv?customerId=c1", headers=BEARER)).json()
    assert one == {
        "customer_id": "c1", "total": 150.0, "orders": 2,
        "first_order": "2026-01-05T10:00:00+00:00", "last_order": "2026-01-20T10:00:00+00:00",
    }  # fmt: skip
    r = await http.get("/v1/reports/clv?customerId=nobody", headers=BEARER)
    assert r.status_code == 404 and "nobody" in r.json()["error"]


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ("/v1/reports/nps?period=year", "period"),
        ("/v1/reports/journeys?from=yesterday", "from"),
        ("/v1/reports/journeys?version=0", "version"),
        ("/v1/reports/journeys/cart?to=2026-01-01&from=2026-02-01", "to"),
        ("/v1/reports/journeys/cart?version=9", "version"),  # cart has versions 1 and 2
        ("/v1/reports/clv?customerId=", "customerId"),
        ("/reports?period=fortnight", "period"),
    ],
)
async def test_bad_parameters_are_400_with_field_and_reason(
    http: httpx.AsyncClient, query: str, field: str
) -> None:
    r = await http.get(query, headers=BEARER)
    assert r.status_code == 400, r.text
    [error] = r.json()["errors"]
    assert error["field"] == field and error["reason"]


async def test_the_page_has_every_chart(http: httpx.AsyncClient) -> None:
    r = await http.get("/reports", headers=basic("me", ADMIN_KEY))
    assert r.headers["content-type"].startswith("text/html")
    page = r.text
    for chart in ("funnel", "conversion", "experiment-split", "nps"):
        assert f'data-chart="{chart}"' in page
    assert "<script src" not in page and "http" not in page.split("<body>")[1]  # nothing fetched
    assert r.headers["cache-control"] == "no-store"
    assert "<td>welcome</td><td>1</td><td>–</td><td>no goal</td>" in page  # not "0.0%"


# -- the page in a real browser --------------------------------------------------------------


@pytest.fixture
def server(store: str) -> Iterator[str]:
    """uvicorn serving the reports on a free port, in a thread of this process."""
    with serving(reports_app(store)) as address:
        yield address


@pytest.mark.browser
async def test_the_page_in_headless_chromium(
    server: str, http: httpx.AsyncClient, tmp_path: Path
) -> None:
    """Through a real server with the browser's Basic credentials: every chart drawn by the
    inlined plotly.js, nothing from outside, no script error, and each chart's figures those
    of the JSON reports."""
    drawn = open_page(f"http://admin:{ADMIN_KEY}@{server}/reports", tmp_path, "reports")
    assert "Journeys report" in drawn.dom, drawn.dom[:2000]
    assert drawn.ready and drawn.errors == "" and drawn.outside == []
    assert drawn.rendered == "4 charts"

    async def report(path: str) -> Any:
        return (await http.get(path, headers=BEARER)).json()

    funnel = await report("/v1/reports/funnel")
    [bars] = drawn.charts["chart-funnel"]
    assert bars["y"] == [s["stage"] for s in funnel["stages"]]
    assert bars["x"] == [s["customers"] for s in funnel["stages"]]
    lines = {t["name"]: (t["x"], t["y"]) for t in drawn.charts["chart-conversion"]}
    for journey in await report("/v1/reports/journeys"):
        if journey["no_goal"]:  # welcome here: no line of a rate it cannot have
            assert journey["key"] not in lines
            continue
        over_time = (await report(f"/v1/reports/journeys/{journey['key']}"))["over_time"]
        assert lines.pop(journey["key"]) == (
            [c["key"] for c in over_time],
            [pytest.approx(100 * c["rate"]) for c in over_time],
        )
    assert lines == {}
    [split] = (await report("/v1/reports/journeys/cart"))["experiments"]
    [dots] = drawn.charts["chart-experiment-split"]
    assert dots["y"] == [v["name"] for v in split["variants"]]
    assert dots["x"] == [pytest.approx(v["rate"]) for v in split["variants"]]
    trend = (await report("/v1/reports/nps"))["trend"]
    [nps] = drawn.charts["chart-nps"]
    scored = [f for f in trend if f["score"] is not None]
    assert (nps["x"], nps["y"]) == ([f["key"] for f in scored], [f["score"] for f in scored])


@pytest.mark.browser
def test_the_error_sink_catches_errors_and_console_errors(store: str, tmp_path: Path) -> None:
    """What the test above relies on: a failing script does show in #errors."""
    with session_scope(store) as session:
        page = render_page(page_data(session, RunFilter(), "week"))
    broken = "<script>console.error('boom', 42); no_such_function();</script></body>"
    drawn = open_page(page.replace("</body>", broken), tmp_path, "reports-broken")
    assert drawn.ready
    assert "console.error: boom 42" in drawn.errors and "no_such_function" in drawn.errors
