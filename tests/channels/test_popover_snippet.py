"""The website snippet (`/v1/popovers.js`) on a shop page of another origin, in headless
Chromium against a real API server: it finds the visitor by analytics.js's anonymousId, shows
the due welcome popover as a dialog with the focus in it, Escape dismisses it, and the exit
intent popover waits until the pointer leaves through the top. What the page did is reported
back as `Popover Viewed` / `Popover Dismissed` events in the store."""

import functools
import http.server
import json
import shutil
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from sqlmodel import select
from temporalio.testing import WorkflowEnvironment

from journeys.api.app import create_app
from journeys.channels.templates import SHIPPED
from journeys.config.settings import Settings
from journeys.store.db import session_scope, upgrade_schema
from journeys.store.models import Event, Message
from journeys.vocabulary.ids import anonymous_customer_id
from tests.helpers.browser import open_page
from tests.helpers.http import serving
from tests.helpers.ports import free_port

WRITE_KEY = "shop-write-key"
VISITOR = "visitor-1"  # the anonymousId analytics.js left in the shop's storage
EXIT = """
leaving_offer:
  topic: offers
  popover:
    kind: exit_intent
    fields: {title: Before you go, body: Free shipping today., cta: Keep shopping}
"""
# The shop's page: analytics.js's id already stored, the snippet, then a driver standing in
# for the visitor (keys and pointer), which writes what it saw into #seen.
SHOP = """<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Shop</title></head>
<body><h1>Boots</h1><a href="/cart">Cart</a><pre id="seen"></pre>
<script>localStorage.setItem("ajs_anonymous_id", JSON.stringify("VISITOR"));</script>
<script src="API/v1/popovers.js" data-write-key="KEY"></script>
<script>
function look() {
  var d = document.querySelector('[role="dialog"]');
  return d && {title: d.querySelector(".jp-title").textContent,
               modal: d.getAttribute("aria-modal"),
               focused: document.activeElement.textContent,
               id: d.getAttribute("data-popover-id")};
}
window.addEventListener("load", function () {
  var seen = {};
  journeysPopovers.ready.then(function (due) {
    seen.due = due.map(function (p) { return p.kind; });
    seen.first = look();
    document.dispatchEvent(new KeyboardEvent("keydown", {key: "Escape", bubbles: true}));
    seen.afterEscape = look();
    document.dispatchEvent(new MouseEvent("mouseout", {clientY: 300, bubbles: true}));
    seen.pointerStillIn = look();
    document.dispatchEvent(new MouseEvent("mouseout", {clientY: -2, bubbles: true}));
    seen.leaving = look();
    seen.anonymousId = journeysPopovers.anonymousId();
    document.getElementById("seen").textContent = JSON.stringify(seen);
  });
});
</script></body></html>"""


def serve(root: Path) -> Iterator[str]:
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(root))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", free_port()), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()


@pytest.fixture
def api(dev_env: WorkflowEnvironment, sqlite_url: str, tmp_path: Path) -> Iterator[str]:
    """The API (templates: the shipped ones and an exit-intent offer) on a free port."""
    templates = tmp_path / "templates"
    shutil.copytree(SHIPPED, templates)
    (templates / "exit.yaml").write_text(EXIT)
    settings = Settings(
        database_url=sqlite_url,
        write_keys=[WRITE_KEY],
        templates_dir=templates,
        popovers_per_session=2,
    )  # both due popovers in one page view
    upgrade_schema(sqlite_url)
    with serving(create_app(settings, client=dev_env.client)) as address:
        yield f"http://{address}"


def queue_popovers(url: str) -> None:
    customer = anonymous_customer_id(VISITOR)
    with session_scope(url) as session:
        for key, template in (("run-1:hello:1", "welcome_popover"),
                              ("run-2:leave:1", "leaving_offer")):  # fmt: skip
            session.add(Message(idempotency_key=key, customer_id=customer, journey="welcome",
                                step=key.split(":")[1], channel="popover", template=template,
                                status="queued", context={}))  # fmt: skip


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
    queue_popovers(sqlite_url)
    shop = tmp_path / "shop"
    shop.mkdir()
    page = SHOP.replace("VISITOR", VISITOR).replace("API", api).replace("KEY", WRITE_KEY)
    (shop / "index.html").write_text(page)
    for origin in serve(shop):  # the shop's own origin, not the API's
        drawn = open_page(f"{origin}/index.html", tmp_path, "popover-snippet")
    seen = json.loads(drawn.dom.split('<pre id="seen">')[1].split("</pre>")[0])
    assert seen["anonymousId"] == VISITOR  # analytics.js's id, not a new one
    assert seen["due"] == ["welcome", "exit_intent"]
    assert seen["first"] == {"title": "Welcome!", "modal": "true", "focused": "Show me",
                             "id": "run-1:hello:1"}  # fmt: skip
    assert seen["afterEscape"] is None and seen["pointerStillIn"] is None
    assert seen["leaving"]["title"] == "Before you go"  # left through the top
    reported = []
    for _ in range(50):  # the reports are fire-and-forget
        with session_scope(sqlite_url) as session:
            rows = session.exec(select(Event).where(Event.customer_id
                                                    == anonymous_customer_id(VISITOR)))  # fmt: skip
            reported = sorted((e.event, e.payload["properties"]["popover_id"]) for e in rows)
        if len(reported) >= 3:
            break
        time.sleep(0.1)
    assert reported == [
        ("Popover Dismissed", "run-1:hello:1"),
        ("Popover Viewed", "run-1:hello:1"),
        ("Popover Viewed", "run-2:leave:1"),
    ]
