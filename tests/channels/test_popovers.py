"""On-site popovers: queued by journeys, served to the website once, under display rules."""

import base64
from datetime import UTC, datetime, timedelta

import httpx
from sqlmodel import select

from api.app import create_app
from config.settings import Settings
from store.customers import link_identity, upsert_traits
from store.db import session_scope
from store.models import Message

KEY = "site-key"


def queue(url: str, key: str, customer: str, template: str, age: timedelta = timedelta(0)) -> None:
    with session_scope(url) as session:
        session.add(Message(
            idempotency_key=key, customer_id=customer, journey="welcome", step="hello",
            channel="popover", template=template, context={"properties": {"products": [1, 2]}},
            status="queued", created_at=datetime.now(UTC) - age,
        ))  # fmt: skip


async def get(settings: Settings, query: str) -> httpx.Response:
    app = create_app(settings, client=object())  # type: ignore[arg-type]
    auth = {"Authorization": "Basic " + base64.b64encode(f"{KEY}:".encode()).decode()}
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://api"
    ) as c:
        return await c.get(f"/v1/popovers?{query}", headers=auth)


async def test_popovers_are_served_once_within_the_daily_cap(sqlite_url: str) -> None:
    settings = Settings(database_url=sqlite_url, write_keys=[KEY], popovers_per_day=2)
    with session_scope(sqlite_url) as session:
        link_identity(session, anonymous_id="browser-1", customer_id="u1")
        upsert_traits(session, customer_id="u1", traits={"first_name": "Ann"})
    queue(sqlite_url, "p1", "u1", "welcome_popover")
    queue(sqlite_url, "p2", "u1", "cart_recovery_popover")
    queue(sqlite_url, "p3", "u1", "data_capture_offer")
    queue(sqlite_url, "old", "u1", "data_capture_offer", age=timedelta(days=8))

    first = await get(settings, "anonymousId=browser-1")  # the browser, linked to u1
    assert first.status_code == 200
    assert [(p["popover_id"], p["kind"]) for p in first.json()] == [
        ("p1", "welcome"), ("p2", "cart_recovery"),
    ]  # fmt: skip
    assert first.json()[1]["fields"]["body"] == "2 item(s) are still in your cart."
    assert (await get(settings, "userId=u1")).json() == []  # cap reached; nothing repeated
    with session_scope(sqlite_url) as session:
        statuses = {m.idempotency_key: m.status for m in session.exec(select(Message))}
    assert statuses == {"p1": "sent", "p2": "sent", "p3": "queued", "old": "skipped"}


async def test_popovers_need_the_write_key_and_an_id(sqlite_url: str) -> None:
    settings = Settings(database_url=sqlite_url, write_keys=[KEY])
    app = create_app(settings, client=object())  # type: ignore[arg-type]
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://api"
    ) as c:
        assert (await c.get("/v1/popovers?userId=u1")).status_code == 401
        assert (await c.get(f"/v1/popovers?userId=u1&writeKey={KEY}")).status_code == 200
    r = await get(settings, "")
    assert r.status_code == 400 and r.json()["errors"][0]["field"] == "userId"
