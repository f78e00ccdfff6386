"""Inflection points: a touchpoint that goes with the goal inside each lifecycle stage comes
first; one whose crude association is only the stage it is given in (most of it in a stage that
converts anyway) comes out at an odds ratio of 1 once stages are pooled (Mantel-Haenszel)."""

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
import pytest_asyncio

from journeys.api.app import create_app
from journeys.config.settings import Settings
from journeys.kpis.inflections import inflections
from journeys.store.db import session_scope, upgrade_schema
from journeys.store.insights import goal_landmarks
from journeys.store.models import Event, JourneyEvent, Message, StageEntry
from tests.helpers.api import ADMIN, ADMIN_KEY
from tests.helpers.browser import open_page

START = datetime(2025, 5, 1, tzinfo=UTC)


def seed(url: str) -> None:
    """Consideration (a0..a99) converts 10% of the time, decision (b0..b99) 60%. The coupon is
    seen by 10% in consideration and 90% in decision, converting at each stage's own rate. The
    offer email goes to half of each stage, and nearly all converters had it."""
    with session_scope(url) as session:
        n = 0
        for prefix, stage in (("a", "consideration"), ("b", "decision")):
            for i in range(100):
                who, at = f"{prefix}{i}", START + timedelta(minutes=n)
                n += 1
                session.add(StageEntry(customer_id=who, at=at, stage=stage,
                                       previous="awareness", cause="x"))  # fmt: skip
                offered = i % 10 < 5
                # a: 1 in 10, all of them offered; b: every offered one, 1 in 5 of the others
                converts = i % 10 == 0 if prefix == "a" else offered or i % 10 == 5
                coupon = i < 10 if prefix == "a" else i < 90
                names = ["Coupon Viewed"] * coupon + ["Order Completed"] * converts
                for k, name in enumerate(names):
                    moment = at + timedelta(hours=1 if name != "Order Completed" else 48)
                    session.add(Event(
                        message_id=f"{who}-{k}", customer_id=who, type="track", event=name,
                        timestamp=moment, received_at=moment, delivered_at=moment, payload={},
                    ))  # fmt: skip
                if offered:
                    session.add(Message(
                        idempotency_key=f"{who}-offer", customer_id=who, journey="j", step="s",
                        channel="email", template="offer", status="sent",
                        sent_at=at + timedelta(hours=2),
                    ))  # fmt: skip


def test_the_offer_leads_and_the_coupon_is_only_its_stage(sqlite_url: str) -> None:
    upgrade_schema(sqlite_url)
    seed(sqlite_url)
    with session_scope(sqlite_url) as session:
        landmarks = goal_landmarks(session, goal="Order Completed", start=START,
                                   end=START + timedelta(days=60))  # fmt: skip
    assert len(landmarks) == 200
    found = {f.touchpoint: f for f in inflections(landmarks)}
    first = inflections(landmarks)[0]
    assert first.touchpoint == "message: offer" and first.low > 1 and first.strata == 2
    coupon = found["event: Coupon Viewed"]
    assert coupon.rate_exposed == 0.55 and coupon.rate_unexposed == 0.15  # crude: 3.7 times
    assert coupon.low < 1 < coupon.high and coupon.odds_ratio == pytest.approx(1.0, abs=0.01)
    assert "event: Order Completed" not in found  # the goal is not its own touchpoint
    with session_scope(sqlite_url) as session:  # a journey's goal: b0's run of "j" converted
        session.add(JourneyEvent(key="r:1", workflow_id="r", seq=1, customer_id="b0",
                                 journey="j", version=1, kind="converted",
                                 at=START + timedelta(days=3)))  # fmt: skip
    with session_scope(sqlite_url) as session:
        journey = goal_landmarks(session, goal="journey:j", start=START,
                                 end=START + timedelta(days=60))  # fmt: skip
    assert len(journey) == 200 and sum(m.reached_goal for m in journey) == 1
    assert any("event: Order Completed" in m.touchpoints for m in journey)  # now a touchpoint


PERIOD = {"from": "2025-05-01", "to": "2025-06-30"}


@pytest_asyncio.fixture(loop_scope="session")
async def http(sqlite_url: str) -> AsyncIterator[httpx.AsyncClient]:
    """The API over the seeded store, without Temporal (insights read the store only)."""
    upgrade_schema(sqlite_url)
    seed(sqlite_url)
    settings = Settings(database_url=sqlite_url, admin_key=ADMIN_KEY)
    app = create_app(settings, client=object())  # type: ignore[arg-type]
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app),
                                 base_url="http://api") as client:  # fmt: skip
        yield client


async def test_the_api_and_the_page_say_it_is_association(http: httpx.AsyncClient) -> None:
    r = await http.get("/v1/insights/inflections", params=PERIOD, headers=ADMIN)
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["goal"] == "Order Completed" and body["stage_entries"] == 200
    assert "association, not cause" in body["note"]
    assert body["inflections"][0]["touchpoint"] == "message: offer"
    page = await http.get("/console/inflections", params=PERIOD, headers=ADMIN)
    assert page.status_code == 200 and "association, not cause" in page.text
    assert "<td>message: offer</td><td>100</td>" in page.text
    wrong = await http.get("/v1/insights/inflections", headers=ADMIN,
                           params={"from": "2025-06-30", "to": "2025-05-01"})  # fmt: skip
    assert wrong.status_code == 400 and wrong.json()["errors"][0]["field"] == "to"
    assert (await http.get("/v1/insights/inflections")).status_code == 401


@pytest.mark.browser
async def test_the_forest_plot_draws_the_api_figures(
    http: httpx.AsyncClient, tmp_path: Path
) -> None:
    found = (await http.get("/v1/insights/inflections", params=PERIOD, headers=ADMIN)).json()
    page = (await http.get("/console/inflections", params=PERIOD, headers=ADMIN)).text
    drawn = open_page(page, tmp_path, "console-inflections")
    assert drawn.ready and drawn.errors == "" and drawn.outside == []
    assert drawn.rendered == "1 charts"
    [dots] = drawn.charts["chart-inflections"]
    assert dots["y"] == [f["touchpoint"] for f in found["inflections"]]
    assert dots["x"] == [pytest.approx(f["odds_ratio"]) for f in found["inflections"]]
