"""The website snippet (`/v1/popovers.js`) on a shop page of another origin, in headless
Chromium against a real API server, with the shipped templates: it finds the visitor by
analytics.js's anonymousId, shows the due welcome popover as a dialog with the focus in it,
Escape dismisses it, the exit-intent popover waits until the pointer leaves through the top, and
a time-sensitive offer counts down and is gone when it ends (an ended one is not served). What
the page did is reported back as `Popover Viewed` / `Popover Dismissed` events in the store."""

import asyncio
import functools
import http.server
import json
import re
import threading
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlmodel import select
from temporalio.testing import WorkflowEnvironment

from journeys.api.app import create_app
from journeys.config.settings import Settings
from journeys.store.db import session_scope, upgrade_schema
from journeys.store.models import Event, Message
from journeys.vocabulary.ids import anonymous_customer_id
from journeys.worker.main import build_worker
from tests.helpers.browser import DevTools
from tests.helpers.http import serving
from tests.helpers.journeys import publish_shipped
from tests.helpers.ports import free_port
from tests.helpers.smtp import Inbox, settings_for

WRITE_KEY = "shop-write-key"
VISITOR = "visitor-1"  # the anonymousId analytics.js left in the shop's storage
# The shop's page: analytics.js's id already stored, the snippet, then a driver standing in
# for the visitor (keys, pointer, patience), which writes what it saw into #seen.
SHOP = """<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Shop</title></head>
<body><h1>Boots</h1><a href="/cart">Cart</a><pre id="seen"></pre><pre id="errors" hidden></pre>
<script>window.onerror = function (message, source, line) {
  document.getElementById("errors").textContent += message + " " + source + ":" + line + "\n";
};
window.addEventListener("unhandledrejection", function (e) {
  document.getElementById("errors").textContent += "unhandled: " + e.reason + "\n";
});</script>
<script>localStorage.setItem("ajs_anonymous_id", JSON.stringify("VISITOR"));</script>
<script src="API/v1/popovers.js" data-write-key="KEY"></script>
<script>
function look() {
  var d = document.querySelector('[role="dialog"]');
  var countdown = d && d.querySelector(".jp-countdown");
  return d && {title: d.querySelector(".jp-title").textContent,
               modal: d.getAttribute("aria-modal"),
               focused: document.activeElement.textContent,
               id: d.getAttribute("data-popover-id"),
               countdown: countdown ? countdown.textContent : null};
}
function done(seen) { document.getElementById("seen").textContent = JSON.stringify(seen); }
window.addEventListener("load", function () {
  journeysPopovers.ready.then(function (due) {
    var seen = {due: due.map(function (p) { return p.kind; }),
                anonymousId: journeysPopovers.anonymousId()};
    DRIVER
  });
});
</script></body></html>"""
LEAVING = """
    seen.first = look();
    document.dispatchEvent(new KeyboardEvent("keydown", {key: "Escape", bubbles: true}));
    seen.afterEscape = look();
    document.dispatchEvent(new MouseEvent("mouseout", {clientY: 300, bubbles: true}));
    seen.pointerStillIn = look();
    document.dispatchEvent(new MouseEvent("mouseout", {clientY: -2, bubbles: true}));
    setTimeout(function () { seen.leaving = look(); done(seen); }, 500);  // granted, then shown
"""
WAITING = """
    setTimeout(function () { seen.soon = look(); }, 300);
    setTimeout(function () { seen.later = look(); done(seen); }, 6500);
"""


@pytest.fixture
def api(dev_env: WorkflowEnvironment, sqlite_url: str) -> Iterator[str]:
    """The API with the shipped templates on a free port."""
    settings = Settings(database_url=sqlite_url, write_keys=[WRITE_KEY],
                        popovers_per_session=2)  # both due popovers in one page view  # fmt: skip
    upgrade_schema(sqlite_url)
    with serving(create_app(settings, client=dev_env.client)) as address:
        yield f"http://{address}"


def queue(url: str, *popovers: tuple[str, str, dict[str, Any]]) -> None:
    """(key, template, the properties it renders) each, queued for the visitor."""
    with session_scope(url) as session:
        for key, template, properties in popovers:
            session.add(Message(idempotency_key=key, customer_id=anonymous_customer_id(VISITOR),
                                journey="j", step=key.split(":")[1], channel="popover",
                                template=template, status="queued",
                                context={"properties": properties}))  # fmt: skip


def visit(
    api: str,
    tmp_path: Path,
    driver: str,
    name: str,
    *flags: str,
    visitor: str = VISITOR,
) -> dict[str, Any]:
    """The shop's page, from its own origin, as the driver saw it (`visitor`: the anonymousId
    in its storage), and a screenshot `name`.png for review.

    Driven over DevTools in real time, not `--dump-dom` with a virtual-time budget: that
    Chromium now and then never exits on a loaded machine, and its second try then finds the
    popovers the first one was served already gone."""
    shop = tmp_path / f"shop-{name}"
    shop.mkdir()
    page = SHOP.replace("VISITOR", visitor).replace("API", api).replace("KEY", WRITE_KEY)
    (shop / "index.html").write_text(page.replace("DRIVER", driver))
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(shop))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", free_port()), handler)
    with server, DevTools(tmp_path / f"profile-{name}", *flags, height=2200) as browser:
        threading.Thread(target=server.serve_forever, daemon=True).start()
        browser.open(f"http://127.0.0.1:{server.server_address[1]}/index.html")
        seen = browser.wait_for("document.getElementById('seen').textContent", timeout=45)
        errors = browser.run("document.getElementById('errors').textContent")
        browser.screenshot(name)
        server.shutdown()
    assert errors == "", errors
    return dict(json.loads(seen))


def reported(url: str, expected: int) -> list[tuple[str, str]]:
    """The popover events stored for the visitor, once `expected` arrived (fire and forget)."""
    found: list[tuple[str, str]] = []
    for _ in range(50):
        with session_scope(url) as session:
            rows = session.exec(select(Event).where(Event.customer_id
                                                    == anonymous_customer_id(VISITOR)))  # fmt: skip
            found = sorted((e.event, e.payload["properties"]["popover_id"]) for e in rows)
        if len(found) >= expected:
            break
        time.sleep(0.1)
    return found


def test_an_exit_offer_is_served_when_the_page_shows_it_once(api: str, sqlite_url: str) -> None:
    queue(sqlite_url, ("run-1:hello:1", "welcome_popover", {}),
          ("run-2:leave:1", "leaving_offer_popover", {}),
          ("run-3:leave:1", "leaving_offer_popover", {}))  # fmt: skip
    visit = {"writeKey": WRITE_KEY, "anonymousId": VISITOR, "sessionId": "tab-1"}
    due = httpx.get(f"{api}/v1/popovers", params={**visit, "page": "/"}).json()
    assert [(p["popover_id"], p["claim"]) for p in due] == [
        ("run-1:hello:1", False),
        ("run-2:leave:1", True),
        ("run-3:leave:1", True),
    ]
    again = httpx.get(f"{api}/v1/popovers", params={**visit, "page": "/"}).json()
    assert [p["popover_id"] for p in again] == ["run-2:leave:1", "run-3:leave:1"]  # still due

    def shown(key: str, **body: Any) -> httpx.Response:
        return httpx.post(f"{api}/v1/popovers/{key}/shown", content=json.dumps(body),
                          headers={"Content-Type": "text/plain"})  # fmt: skip

    first = shown("run-2:leave:1", **visit)
    assert first.status_code == 200 and first.json() == {"show": True}
    assert first.headers["access-control-allow-origin"] == "*"  # the shop's page reads it
    twice = shown("run-2:leave:1", **visit)  # another tab
    assert twice.status_code == 409 and twice.json()["reason"] == "already shown"
    full = shown("run-3:leave:1", **visit)  # two served in this session: the cap
    assert full.status_code == 409 and "used up" in full.json()["reason"]
    other = shown("run-3:leave:1", **{**visit, "anonymousId": "someone-else"})
    assert other.status_code == 404
    assert shown("run-3:leave:1", writeKey=WRITE_KEY).status_code == 400  # whose?
    assert shown("run-3:leave:1", anonymousId=VISITOR).status_code == 401
    with session_scope(sqlite_url) as session:
        waiting = session.get(Message, "run-3:leave:1")
        assert waiting is not None and waiting.status == "queued"  # for another session


def test_the_script_is_public_cacheable_and_revalidates(api: str) -> None:
    first = httpx.get(f"{api}/v1/popovers.js")
    assert first.status_code == 200 and first.headers["content-type"].startswith("text/javascript")
    assert first.headers["cache-control"] == "public, max-age=3600"
    assert "window.journeysPopovers" in first.text
    again = httpx.get(f"{api}/v1/popovers.js", headers={"If-None-Match": first.headers["etag"]})
    assert again.status_code == 304 and again.content == b""


@pytest.mark.browser
def test_a_shop_page_shows_the_due_popovers_and_reports_back(
    api: str, sqlite_url: str, tmp_path: Path
) -> None:
    queue(sqlite_url, ("run-1:hello:1", "welcome_popover", {}),
          ("run-2:leave:1", "leaving_offer_popover", {}))  # fmt: skip
    seen = visit(api, tmp_path, LEAVING, "popover-exit-intent")
    assert seen["anonymousId"] == VISITOR  # analytics.js's id, not a new one
    assert seen["due"] == ["welcome", "exit_intent"]
    assert seen["first"] == {"title": "Welcome!", "modal": "true", "focused": "Show me",
                             "id": "run-1:hello:1", "countdown": None}  # fmt: skip
    assert seen["afterEscape"] is None and seen["pointerStillIn"] is None
    assert seen["leaving"]["title"] == "Before you go"  # left through the top
    with session_scope(sqlite_url) as session:  # served when shown, in this browsing session
        exit_offer = session.get(Message, "run-2:leave:1")
        assert exit_offer is not None and exit_offer.status == "sent" and exit_offer.served_session
    assert reported(sqlite_url, 3) == [
        ("Popover Dismissed", "run-1:hello:1"),
        ("Popover Viewed", "run-1:hello:1"),
        ("Popover Viewed", "run-2:leave:1"),
    ]


@pytest.mark.browser
def test_a_time_sensitive_offer_counts_down_and_is_gone_when_it_ends(
    api: str, sqlite_url: str, tmp_path: Path
) -> None:
    now = datetime.now(UTC)
    # six seconds: Chromium may take a few to start on a loaded machine, and the page looks
    # again 6.5 s after it loaded
    ended, ending = now - timedelta(minutes=1), now + timedelta(seconds=6)
    queue(sqlite_url,
          ("run-1:sale:1", "flash_sale_popover", {"ends_at": ended.isoformat()}),
          ("run-2:sale:1", "flash_sale_popover", {"ends_at": ending.isoformat()}))  # fmt: skip
    seen = visit(api, tmp_path, WAITING, "popover-countdown")
    assert seen["due"] == ["time_sensitive_offer"]  # the ended one is not served
    assert seen["soon"]["title"] == "Today only" and seen["soon"]["id"] == "run-2:sale:1"
    assert re.fullmatch(r"Ends in 0:0[1-6]", seen["soon"]["countdown"])
    assert seen["later"] is None  # gone when it ended
    with session_scope(sqlite_url) as session:
        ended = session.get(Message, "run-1:sale:1")
        assert ended is not None and ended.status == "skipped"
        assert ended.reason == "the offer ended before it showed"


# The visitor answers a survey (a comment too long for the API first), has the basket emailed
# (a mistyped address first), then sees the products picked for them.
ANSWERING = """
    function dialog() { return document.querySelector('[role="dialog"]'); }
    function field(d, name) { return d.querySelector('[id$="-' + name + '"]'); }
    function submit(d) { d.querySelector('button[type="submit"]').click(); }
    function texts(d, selector) {
      return Array.prototype.map.call(d.querySelectorAll(selector), function (e) {
        return e.textContent.trim(); });
    }
    function until(check, then, tries) {  // the API's answer, however long it takes
      tries = tries === undefined ? 400 : tries;
      if (check()) { then(); }
      else if (tries) { setTimeout(function () { until(check, then, tries - 1); }, 50); }
      else { seen.stuck = true; done(seen); }
    }
    var d = dialog();
    seen.survey = {title: d.querySelector(".jp-title").textContent,
                   questions: texts(d, "label[for], legend, .jp-consent span"),
                   focused: document.activeElement.type};
    d.querySelector('input[type="radio"][value="4"]').click();
    field(d, "heard_from").value = "A friend";
    field(d, "comment").value = new Array(602).join("x");  // past maxlength: the API says no
    submit(d);
    until(function () { return field(d, "comment-error").textContent; }, function () {
      seen.surveyRefused = {error: field(d, "comment-error").textContent,
                            invalid: field(d, "comment").getAttribute("aria-invalid"),
                            focused: document.activeElement.id.slice(-8)};
      field(d, "comment").value = "More boots, please";
      submit(d);
      until(function () { return d.querySelector(".jp-thanks"); }, function () {
        seen.surveyThanks = d.querySelector(".jp-thanks").textContent;
        d.querySelector(".jp-form .jp-cta").click();  // Close
        var b = dialog();
        seen.basket = {title: b.querySelector(".jp-title").textContent,
                       products: texts(b, ".jp-product")};
        field(b, "email").value = "bob@";
        submit(b);
        seen.basketRefused = field(b, "email-error").textContent;  // at once, in the page
        field(b, "email").value = "bob@shop.test";
        submit(b);
        until(function () { return b.querySelector(".jp-thanks"); }, function () {
          seen.basketThanks = b.querySelector(".jp-thanks").textContent;
          b.querySelector(".jp-form .jp-cta").click();
          var r = dialog();
          seen.picks = {title: r.querySelector(".jp-title").textContent,
                        products: texts(r, ".jp-product")};
          done(seen);
        });
      });
    });
"""


@pytest.fixture
async def shop_stack(
    dev_env: WorkflowEnvironment, inbox: tuple[Inbox, int], sqlite_url: str, task_queue: str
) -> AsyncIterator[tuple[str, Inbox]]:
    """The API and a worker running the shipped journeys, sending email to a real SMTP server."""
    box, port = inbox
    wanted = {"task_queue": task_queue, "write_keys": [WRITE_KEY], "popovers_per_session": 5,
              "popovers_per_day": 5}  # fmt: skip
    settings = settings_for(sqlite_url, port).model_copy(update=wanted)
    publish_shipped(sqlite_url)
    async with build_worker(dev_env.client, settings):
        with serving(create_app(settings, client=dev_env.client)) as address:
            yield f"http://{address}", box


@pytest.mark.slow
@pytest.mark.browser
async def test_forms_and_product_lists_do_their_kinds_job(
    shop_stack: tuple[str, Inbox], sqlite_url: str, tmp_path: Path
) -> None:
    """A survey's answers land in the store as `Survey Answered`, an email-my-basket sends the
    cart by email through the journey and the real SMTP server, a recommendation lists its
    products; refused answers are shown beside their question, in the page."""
    api, box = shop_stack
    cart = [{"product_id": "boot-1", "name": "Trail boot", "price": 89.5, "quantity": 2,
             "url": "https://shop.test/p/boot-1"}]  # fmt: skip
    picks = [{"product_id": "tent-1", "name": "Tent", "price": 199.0}]
    start = datetime.now(UTC) - timedelta(minutes=5)
    visitor = f"visitor-{uuid.uuid4()}"  # its own customer workflow, on this worker's queue
    customer = anonymous_customer_id(visitor)
    with session_scope(sqlite_url) as session:
        for i, (key, template, context) in enumerate([
            ("run-1:ask:1", "shop_survey_popover", {}),
            ("run-2:basket:1", "email_my_basket_popover", {"properties": {"products": cart}}),
            ("run-3:picks:1", "picked_for_you_popover", {"products": picks}),
        ]):  # fmt: skip
            session.add(Message(idempotency_key=key, customer_id=customer, journey="j",
                                step="s", channel="popover", template=template,
                                status="queued", context=context,
                                created_at=start + timedelta(seconds=i)))  # fmt: skip
    seen = await asyncio.to_thread(visit, api, tmp_path, ANSWERING, "popover-forms",
                                   visitor=visitor)  # fmt: skip
    assert seen["survey"] == {
        "title": "Two quick questions",
        "questions": ["How easy was it to find what you wanted?",
                      "Where did you hear about us?", "Anything we should do better?"],
        "focused": "radio",  # the first question's first answer
    }  # fmt: skip
    assert seen["surveyRefused"] == {"error": "at most 500 characters", "invalid": "true",
                                     "focused": "-comment"}  # fmt: skip
    assert seen["surveyThanks"] == "Thank you for telling us."
    assert seen["basket"] == {"title": "Not ready to buy yet?",
                              "products": ["Trail boot\u00d7 289.50"]}  # fmt: skip
    assert seen["basketRefused"] == "That does not look like an email address."
    assert seen["basketThanks"] == "Sent - check your inbox."
    assert seen["picks"] == {"title": "Picked for you", "products": ["Tent199.00"]}

    with session_scope(sqlite_url) as session:
        rows = session.exec(select(Event).where(
            Event.customer_id == customer, Event.event == "Survey Answered"
        )).all()  # fmt: skip
    assert [e.payload["properties"] for e in rows] == [{
        "found_it": 4, "heard_from": "A friend", "comment": "More boots, please",
        "popover_id": "run-1:ask:1", "journey": "j", "survey": "shop_survey_popover",
    }]  # fmt: skip
    for _ in range(300):  # the email_my_basket journey sends it through the worker
        if box.messages:
            break
        await asyncio.sleep(0.1)
    assert [(m["To"], m["Subject"]) for m in box.messages] == [("bob@shop.test", "Your basket")]
    text = box.messages[0].get_payload()[0].get_payload(decode=True).decode()
    assert "- Trail boot x 2, 89.50 https://shop.test/p/boot-1" in text


# A touch screen has no pointer to leave the page: reading back up slowly is not leaving, a
# flick up towards the address bar is; the back gesture is too.
SCROLLING = """
    document.body.style.height = "8000px";
    function scrollTo(y) {  // the scroll event at once: headless frames are too rare for it
      window.scrollTo(0, y);
      window.dispatchEvent(new Event("scroll"));
    }
    scrollTo(4000);
    setTimeout(function () {
      var y = 4000;  // reading back up: 120 px every 150 ms
      var reading = setInterval(function () { y -= 120; scrollTo(y); }, 150);
      setTimeout(function () {
        clearInterval(reading);
        seen.reading = look();
        scrollTo(y - 1500);  // the flick
        setTimeout(function () { seen.flicked = look(); done(seen); }, 500);
      }, 1200);
    }, 300);
"""
BACK = """
    seen.before = look();
    history.back();
    setTimeout(function () { seen.back = look(); done(seen); }, 500);
"""


@pytest.mark.browser
@pytest.mark.parametrize(("driver", "moment"), [(SCROLLING, "flicked"), (BACK, "back")])
def test_on_a_touch_screen_a_flick_up_or_the_back_gesture_is_the_exit_intent(
    api: str, sqlite_url: str, tmp_path: Path, driver: str, moment: str
) -> None:
    queue(sqlite_url, ("run-2:leave:1", "leaving_offer_popover", {}))
    seen = visit(api, tmp_path, driver, f"popover-touch-{moment}", "--touch-events=enabled")
    assert seen["due"] == ["exit_intent"]
    assert seen.get("reading", seen.get("before")) is None  # not before the visitor leaves
    assert seen[moment] and seen[moment]["title"] == "Before you go", seen
