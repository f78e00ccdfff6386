"""`POST /v1/backtests`: a backtest of a published journey and a draft over the store's own
calls, run by the `backtest-{id}` workflow on a real worker, its report served and kept; a
cancelled one keeps its partial report; bad requests name the field."""

import asyncio
import base64
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
import pytest_asyncio
import yaml
from temporalio.testing import WorkflowEnvironment

from journeys.api.app import create_app
from journeys.cli.specs import load_spec_files
from journeys.config.settings import Settings
from journeys.data import JOURNEYS
from journeys.store.db import session_scope, upgrade_schema
from journeys.store.journeys import publish_spec
from journeys.store.models import Event
from journeys.worker.main import build_worker
from tests.helpers.api import ADMIN, ADMIN_KEY
from tests.helpers.backtest import NO_NUDGE, stored


def basic_admin() -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"admin:{ADMIN_KEY}".encode()).decode()}


@pytest.fixture
def store(sqlite_url: str) -> str:
    upgrade_schema(sqlite_url)
    with session_scope(sqlite_url) as session:
        publish_spec(session, spec=load_spec_files([JOURNEYS / "post_purchase.yaml"])[0])
    return sqlite_url


@pytest_asyncio.fixture(loop_scope="session")
async def http(store: str) -> AsyncIterator[httpx.AsyncClient]:
    """The API without Temporal: what is refused before a workflow starts."""
    app = create_app(Settings(database_url=store, admin_key=ADMIN_KEY), client=object())  # type: ignore[arg-type]
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://api") as client:
        yield client


async def finished(http: httpx.AsyncClient, backtest_id: str, timeout: float = 240) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        shown = (await http.get(f"/v1/backtests/{backtest_id}", headers=ADMIN)).json()
        if shown["status"] != "running":
            return shown
        await asyncio.sleep(1)
    raise AssertionError(f"backtest {backtest_id} still running after {timeout} s")


YEAR_OF_ORDERS = 1200  # one every 439 minutes: all in 2024


@pytest.mark.slow
async def test_a_backtest_runs_as_a_workflow_and_its_report_is_served_and_kept(
    dev_env: WorkflowEnvironment, store: str, task_queue: str
) -> None:
    stored(store)  # ann orders on 1 May 2025 (with an address), bob on 4 May (none)
    start = datetime(2024, 1, 1, tzinfo=UTC)
    # a year of orders, for the cancel: more than a backtest gets through in 15 s here (300, one
    # a day, once did in 8 s)
    with session_scope(store) as session:
        for n in range(YEAR_OF_ORDERS):
            at = start + timedelta(minutes=439 * n)
            session.add(Event(
                message_id=f"y{n}", customer_id=f"c{n}", type="track", event="Order Completed",
                user_id=f"c{n}", timestamp=at, received_at=at, delivered_at=at,
                payload={"type": "track", "userId": f"c{n}", "event": "Order Completed",
                         "properties": {"total": 1}},
            ))  # fmt: skip
    settings = Settings(database_url=store, admin_key=ADMIN_KEY, task_queue=task_queue)
    transport = httpx.ASGITransport(app=create_app(settings, client=dev_env.client))
    async with (
        build_worker(dev_env.client, settings),
        httpx.AsyncClient(transport=transport, base_url="http://api") as http,
    ):
        year = {"a": {"journey": "post_purchase"}, "from": "2024-01-01", "to": "2025-01-01"}
        long = await http.post("/v1/backtests", headers=ADMIN, json=year)
        draft = yaml.safe_load(NO_NUDGE)
        short = await http.post("/v1/backtests", headers=ADMIN, json={
            "a": {"journey": "post_purchase", "version": 1}, "b": {"spec": draft},
            "from": "2025-05-01T00:00:00Z", "to": "2025-05-20T00:00:00Z"})  # fmt: skip
        assert long.status_code == 202 and short.status_code == 202, (long.text, short.text)
        assert short.json()["journeys"] == ["post_purchase", "post_purchase"]
        workflow_id = short.json()["workflow_id"]
        assert workflow_id == f"backtest-{short.json()['id']}"

        await asyncio.sleep(15)  # into the year
        stopping = await http.post(f"/v1/backtests/{long.json()['id']}/cancel", headers=ADMIN)
        assert stopping.status_code == 202, stopping.text
        stopped = await finished(http, long.json()["id"])
        assert stopped["status"] == "stopped", stopped
        assert stopped["report"]["complete"] is False
        assert stopped["report"]["entries"]["runs"] < YEAR_OF_ORDERS
        assert stopped["report"]["spec"] == "v1"  # the latest, named

        done = await finished(http, short.json()["id"])
        assert done["status"] == "done", done
        report = done["report"]
        assert report["a"]["entries"]["runs"] == 2 and report["b"]["entries"]["runs"] == 2
        # ann: thanks, tips and survey by email; bob has no address; both get the push nudge
        assert report["a"]["messages"]["by_channel"] == {"email": 3, "push": 2}
        assert report["b"]["messages"]["by_channel"] == {"email": 2}
        assert report["difference"]["messages"]["by_channel"] == {"email": -1, "push": -2}
        assert (report["a"]["spec"], report["b"]["spec"]) == ("v1", "draft")
        result = await dev_env.client.get_workflow_handle(workflow_id).result()
        assert result == {"status": "done", "calls": 3, "error": ""}

        page = await http.get(
            f"/v1/backtests/{short.json()['id']}/page", headers=basic_admin()
        )  # a browser's Basic credentials
        assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
        assert ("<h1>Backtest: a: post_purchase (v1) 2025-05-01 to 2025-05-20 vs "
                "b: post_purchase (draft)") in page.text  # fmt: skip
        assert all(f'data-chart="{c}"' in page.text for c in ("outcomes", "weekly", "messages"))
        assert (await http.get(f"/v1/backtests/{short.json()['id']}/page")).status_code == 401

        listed = (await http.get("/v1/backtests", headers=ADMIN)).json()
        assert {b["id"]: b["status"] for b in listed} == {
            long.json()["id"]: "stopped", short.json()["id"]: "done"}  # fmt: skip
        again = await http.post(f"/v1/backtests/{short.json()['id']}/cancel", headers=ADMIN)
        assert again.status_code == 409 and "already done" in again.text


@pytest.mark.parametrize(
    ("body", "field", "reason"),
    [
        ({"a": {}}, "a", "give journey (a published one) or spec (a draft)"),
        ({"a": {"journey": "post_purchase", "spec": {}}}, "a", "one of them"),
        ({"a": {"spec": {}, "version": 2}}, "a", "version goes with journey"),
        ({"a": {"journey": "nope"}}, "a.journey", "no journey 'nope'"),
        (
            {"a": {"journey": "post_purchase", "version": 9}},
            "a.journey",
            "no version 9 of journey 'post_purchase'",
        ),
        (
            {"a": {"journey": "post_purchase"}, "b": {"spec": {"name": "x", "steps": []}}},
            "b.spec.",
            "",
        ),
        (
            {"a": {"journey": "post_purchase"}, "from": "2025-02-01", "to": "2025-01-01"},
            "to",
            "must be after from",
        ),
        ({"a": {"journey": "post_purchase"}, "when": "now"}, "when", "Extra inputs"),
    ],
)
async def test_bad_requests_name_the_field(
    http: httpx.AsyncClient, body: dict[str, Any], field: str, reason: str
) -> None:
    refused = await http.post("/v1/backtests", headers=ADMIN, json=body)
    assert refused.status_code == 400, refused.text
    errors = refused.json()["errors"]
    assert any(e["field"].startswith(field) and reason in e["reason"] for e in errors), errors


async def test_unknown_backtests_and_missing_keys_are_refused(http: httpx.AsyncClient) -> None:
    assert (await http.get("/v1/backtests/nope", headers=ADMIN)).status_code == 404
    assert (await http.post("/v1/backtests/nope/cancel", headers=ADMIN)).status_code == 404
    assert (await http.get("/v1/backtests/nope/page", headers=ADMIN)).status_code == 404
    assert (await http.get("/v1/backtests")).status_code == 401
    assert (await http.get("/v1/backtests", headers=ADMIN)).json() == []
