"""The demo shop page (`/demo`, served when `journeys up` runs its demo): a new user sees each of
the nine popover kinds come through the `popover_tour` journey, the worker and the website
snippet, in headless Chromium driven like a person — the real pointer leaves the page through
the top for the exit intent, real keys close each popover — with a screenshot of each kind."""

import asyncio
import re
import time
import uuid
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlmodel import select
from temporalio.testing import WorkflowEnvironment

from journeys.api.app import create_app
from journeys.cli.demo import seed_catalogue
from journeys.config.settings import Settings
from journeys.data import DEMO
from journeys.store.db import session_scope, upgrade_schema
from journeys.store.models import Event
from journeys.vocabulary.ids import anonymous_customer_id
from journeys.worker.main import build_worker
from tests.helpers.browser import DevTools
from tests.helpers.http import serving
from tests.helpers.journeys import publish, publish_shipped
from tests.helpers.smtp import Inbox, settings_for

WRITE_KEY = "demo-write-key"
TITLES = {
    "welcome": "Welcome!",
    "cart_recovery": "Your cart is waiting",
    "exit_intent": "Before you go",
    "product_recommendation": "Picked for you",
    "time_sensitive_offer": "Two-minute flash sale",
    "retargeting": "Still thinking about these?",
    "email_my_basket": "Not ready to buy yet?",
    "data_capture": "10% off your first order",
    "survey": "Two quick questions",
}
SHOWN = """(function () {
  var d = document.querySelector('[role="dialog"]');
  if (!d) { return null; }
  var countdown = d.querySelector(".jp-countdown");
  return {title: d.querySelector(".jp-title").textContent,
          products: Array.prototype.map.call(d.querySelectorAll(".jp-product-name"),
                                             function (e) { return e.textContent; }),
          questions: d.querySelectorAll(".jp-field").length,
          countdown: countdown ? countdown.textContent : null,
          focusInside: d.contains(document.activeElement),
          fillsTheScreen: d.getBoundingClientRect().width >= window.innerWidth - 20};
})()"""


@pytest.fixture
async def demo(
    dev_env: WorkflowEnvironment, inbox: tuple[Inbox, int], sqlite_url: str, task_queue: str
) -> AsyncIterator[tuple[str, Settings, Inbox]]:
    """What `journeys up` runs for its demo: the API with the demo page, a worker, the shipped
    journeys and the popover tour, the demo catalogue, email to a real SMTP server."""
    box, port = inbox
    settings = settings_for(sqlite_url, port).model_copy(update={
        "task_queue": task_queue, "write_keys": [WRITE_KEY], "demo_page": True,
        "popovers_per_day": 20, "popovers_per_session": 20,
    })  # fmt: skip
    upgrade_schema(sqlite_url)
    seed_catalogue(sqlite_url)
    publish_shipped(sqlite_url)
    publish(settings, (DEMO / "popover_tour.yaml").read_text())
    async with build_worker(dev_env.client, settings):
        with serving(create_app(settings, client=dev_env.client)) as address:
            yield f"http://{address}", settings, box


def tour(
    api: str, profile: Path, visitor: str, before_closing: Callable[[], Any]
) -> dict[str, Any]:
    """Each kind asked for on the demo page, shown, looked at and closed; `before_closing` runs
    while the page is still open, since closing the browser may drop a report still in flight."""
    seen: dict[str, Any] = {}
    with DevTools(profile) as browser:
        browser.open(f"{api}/demo")
        browser.run(f"document.cookie = 'ajs_anonymous_id=' + "
                    f"encodeURIComponent(JSON.stringify('{visitor}')) + '; path=/'")  # fmt: skip
        browser.open(f"{api}/demo")  # the visitor's id from the start, as analytics.js left it
        browser.wait_for("!!(window.journeysPopovers && window.journeysPopovers.ready)")
        browser.run("journeysPopovers.ready")
        seen["products"] = browser.run("document.querySelectorAll('#products li').length")
        for kind in TITLES:
            if kind == "retargeting":  # look at two products first
                browser.run("document.querySelectorAll('#products button')[3].click()")
                browser.run("document.querySelectorAll('#products button')[5].click()")
                browser.wait_for("/Viewed: /.test(document.getElementById('status').textContent)")
            due = browser.run(f"demoRequest('{kind}')")
            assert due, f"{kind}: the journey queued nothing"
            if kind == "exit_intent":
                seen["before leaving"] = browser.run(SHOWN)
                browser.move(640, 300)
                browser.move(640, 120)
                browser.move(640, -4)  # out through the top
            shown = browser.wait_for(SHOWN)
            browser.screenshot(f"demo-{kind}")
            if kind == "email_my_basket":
                browser.type("sam@shop.test")  # the focus is in the address field
                browser.press("Enter")
                shown["thanks"] = browser.wait_for(
                    "(document.querySelector('.jp-thanks') || {}).textContent"
                )
            seen[kind] = shown
            browser.press("Escape")
            browser.wait_for(f"!{SHOWN}")
        seen["reported"] = before_closing()
    return seen


@pytest.mark.slow
@pytest.mark.browser
async def test_the_demo_page_shows_all_nine_kinds(
    demo: tuple[str, Settings, Inbox], tmp_path: Path
) -> None:
    api, settings, box = demo
    visitor = f"demo-visitor-{uuid.uuid4()}"

    def dismissals_reported() -> int:  # by the page, fire and forget
        for _ in range(150):
            with session_scope(settings.database_url) as session:
                reported = session.exec(select(Event.event).where(
                    Event.customer_id == anonymous_customer_id(visitor),
                    Event.event == "Popover Dismissed",
                )).all()  # fmt: skip
            if len(reported) >= 8:
                break
            time.sleep(0.1)
        return len(reported)

    seen = await asyncio.to_thread(tour, api, tmp_path / "profile", visitor, dismissals_reported)
    assert seen["products"] == 12  # the demo catalogue
    assert {kind: seen[kind]["title"] for kind in TITLES} == TITLES
    assert all(seen[kind]["focusInside"] for kind in TITLES)
    assert seen["before leaving"] is None  # the exit offer waited for the pointer to leave
    assert re.fullmatch(r"Ends in (2:00|1:5\d)", seen["time_sensitive_offer"]["countdown"])
    assert seen["cart_recovery"]["products"] == ["Trail running shoes", "Road running shoes"]
    assert len(seen["product_recommendation"]["products"]) == 3  # the recommend step's picks
    # what the visitor viewed on the page, newest first (the cart is not a view)
    assert seen["retargeting"]["products"] == ["Waterproof shell jacket", "Headlamp 400 lm"][::-1]
    assert seen["data_capture"]["questions"] == 3 and seen["survey"]["questions"] == 3
    assert [k for k in TITLES if seen[k]["fillsTheScreen"]] == ["survey"]  # layout: fullscreen
    assert seen["email_my_basket"]["thanks"] == "Sent - check your inbox."
    for _ in range(300):
        if box.messages:
            break
        await asyncio.sleep(0.1)
    assert [(m["To"], m["Subject"]) for m in box.messages] == [("sam@shop.test", "Your basket")]
    assert seen["reported"] == 8  # Escape on each but the answered basket form


async def test_the_demo_page_is_off_unless_the_demo_runs(sqlite_url: str) -> None:
    app = create_app(Settings(database_url=sqlite_url, write_keys=[WRITE_KEY]), client=object())  # type: ignore[arg-type]
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://a") as c:
        assert (await c.get("/demo")).status_code == 404
