"""On-site popovers: queued by journeys, served to the website once, under display rules."""

import asyncio
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from pydantic import ValidationError
from sqlmodel import select

from journeys.api.app import create_app
from journeys.channels.templates import Popover
from journeys.config.settings import Settings
from journeys.store.customers import link_identity, merge_customers, upsert_traits
from journeys.store.db import session_scope
from journeys.store.models import Message
from journeys.store.popovers import claim_popover, served_popover, withdraw_popovers
from tests.helpers.api import basic

KEY = "site-key"


def queue(
    url: str, key: str, customer: str, template: str, age: timedelta = timedelta(0),
    channel: str = "popover", status: str = "queued",
) -> None:  # fmt: skip
    with session_scope(url) as session:
        session.add(Message(
            idempotency_key=key, customer_id=customer, journey="welcome", step="hello",
            channel=channel, template=template, context={"properties": {"products": [1, 2]}},
            status=status, created_at=datetime.now(UTC) - age,
        ))  # fmt: skip


async def get(settings: Settings, query: str) -> httpx.Response:
    app = create_app(settings, client=object())  # type: ignore[arg-type]
    auth = basic(KEY)
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


def served(url: str) -> dict[str, tuple[str, str | None]]:
    with session_scope(url) as session:
        return {
            m.idempotency_key: (m.status, m.served_session) for m in session.exec(select(Message))
        }


async def test_a_session_sees_at_most_popovers_per_session(sqlite_url: str) -> None:
    settings = Settings(database_url=sqlite_url, write_keys=[KEY], popovers_per_day=5)
    assert settings.popovers_per_session == 1  # the default
    for key in ("p1", "p2", "p3", "p4"):
        queue(sqlite_url, key, "u1", "welcome_popover")
    queue(sqlite_url, "q1", "u2", "welcome_popover")

    first = await get(settings, "userId=u1&sessionId=s1")
    assert [p["popover_id"] for p in first.json()] == ["p1"]
    assert (await get(settings, "userId=u1&sessionId=s1")).json() == []  # this session had one
    # the session is capped whoever it belongs to (a visitor who logs in as another id)
    assert (await get(settings, "userId=u2&sessionId=s1")).json() == []
    assert [p["popover_id"] for p in (await get(settings, "userId=u1&sessionId=s2")).json()] == [
        "p2"
    ]
    no_session = await get(settings, "userId=u1")  # without a session id: the daily cap only
    assert [p["popover_id"] for p in no_session.json()] == ["p3", "p4"]
    assert served(sqlite_url) == {
        "p1": ("sent", "s1"), "p2": ("sent", "s2"), "p3": ("sent", None), "p4": ("sent", None),
        "q1": ("queued", None),
    }  # fmt: skip

    three = settings.model_copy(update={"popovers_per_session": 3})
    assert [p["popover_id"] for p in (await get(three, "userId=u2&sessionId=s1")).json()] == ["q1"]


PAGED = """
cart_only:
  popover:
    kind: cart_recovery
    fields: {title: "Still in your cart"}
    pages: ["/cart*", "/checkout"]
anywhere:
  popover:
    kind: welcome
    fields: {title: "Welcome {{ traits.first_name }}"}
"""


async def test_a_popover_naming_pages_shows_only_on_those_pages(
    sqlite_url: str, tmp_path: Path
) -> None:
    (tmp_path / "templates").mkdir()
    (tmp_path / "templates" / "t.yaml").write_text(PAGED)
    settings = Settings(database_url=sqlite_url, write_keys=[KEY], popovers_per_day=5,
                        templates_dir=tmp_path / "templates")  # fmt: skip
    with session_scope(sqlite_url) as session:
        upsert_traits(session, customer_id="u1", traits={"first_name": "Ann"})
    queue(sqlite_url, "cart", "u1", "cart_only")

    assert (await get(settings, "userId=u1&page=/products/boots")).json() == []
    assert (await get(settings, "userId=u1")).json() == []  # page unknown: it waits
    shown = await get(settings, "userId=u1&page=/cart/summary")
    assert [p["popover_id"] for p in shown.json()] == ["cart"]

    queue(sqlite_url, "hello", "u1", "anywhere")
    assert [p["fields"] for p in (await get(settings, "userId=u1&page=/a")).json()] == [
        {"title": "Welcome Ann"}
    ]


async def test_a_popover_that_does_not_render_is_failed_not_a_500(
    sqlite_url: str, tmp_path: Path
) -> None:
    (tmp_path / "templates").mkdir()
    (tmp_path / "templates" / "t.yaml").write_text(PAGED)
    settings = Settings(database_url=sqlite_url, write_keys=[KEY],
                        templates_dir=tmp_path / "templates")  # fmt: skip
    queue(sqlite_url, "hello", "u9", "anywhere")  # u9 has no first_name
    r = await get(settings, "userId=u9")
    assert r.status_code == 200 and r.json() == []
    with session_scope(sqlite_url) as session:
        message = session.get(Message, "hello")
        assert message is not None and message.status == "failed"
        assert message.reason == "popover.fields.title: 'dict object' has no attribute 'first_name'"


async def test_bad_display_rule_input_is_400_naming_the_field(sqlite_url: str) -> None:
    settings = Settings(database_url=sqlite_url, write_keys=[KEY])
    for query, field in [
        ("userId=u1&sessionId=", "sessionId"),
        (f"userId=u1&sessionId={'x' * 301}", "sessionId"),
        ("userId=u1&page=cart", "page"),
    ]:
        r = await get(settings, query)
        assert r.status_code == 400, query
        assert [e["field"] for e in r.json()["errors"]] == [field], query


async def test_page_loads_at_once_never_get_the_same_popover(database_url: str) -> None:
    """Eight page loads of one visitor at the same moment, three popovers queued and room for
    all: each popover is served to exactly one of them."""
    settings = Settings(database_url=database_url, write_keys=[KEY], popovers_per_day=10)
    with session_scope(database_url) as session:
        upsert_traits(session, customer_id="u1", traits={"first_name": "Ann"})
    for key in ("p1", "p2", "p3"):
        queue(database_url, key, "u1", "welcome_popover")
    app = create_app(settings, client=object())  # type: ignore[arg-type]
    auth = basic(KEY)
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://api"
    ) as c:
        loads = await asyncio.gather(
            *(c.get("/v1/popovers?userId=u1", headers=auth) for _ in range(8))
        )
    assert [r.status_code for r in loads] == [200] * 8
    shown = [p["popover_id"] for r in loads for p in r.json()]
    assert sorted(shown) == ["p1", "p2", "p3"]


def test_a_time_sensitive_offer_needs_its_end() -> None:
    with pytest.raises(ValidationError, match="a time_sensitive_offer needs fields.ends_at"):
        Popover(kind="time_sensitive_offer", fields={"title": "Today only"})
    offer = Popover(kind="time_sensitive_offer", fields={"title": "x", "ends_at": "{{ e }}"})
    assert offer.fields["ends_at"] == "{{ e }}"


async def test_a_run_cut_short_withdraws_only_its_own_waiting_popovers(database_url: str) -> None:
    """What the run's last activity does when its goal, an exit rule or an operator ends it."""
    settings = Settings(database_url=database_url, write_keys=[KEY], popovers_per_day=5)
    run = "journey-cart_recovery-u1-1"
    queue(database_url, f"{run}:popover:1", "u1", "cart_recovery_popover")
    queue(database_url, f"{run}:popover:2", "u1", "cart_recovery_popover", status="sent")
    queue(database_url, f"{run}:email:1", "u1", "cart_recovery_email", channel="email")
    queue(database_url, "journey-cart_recovery-u1-10:popover:1", "u1", "cart_recovery_popover")
    queue(database_url, "journey-cartXrecovery-u1-1:popover:1", "u1", "welcome_popover")  # `_`
    with session_scope(database_url) as session:
        assert withdraw_popovers(session, workflow_id=run, outcome="converted") == 1
    with session_scope(database_url) as session:
        assert withdraw_popovers(session, workflow_id=run, outcome="converted") == 0  # a retry
        rows = {m.idempotency_key: (m.status, m.reason) for m in session.exec(select(Message))}
    reason = "withdrawn: the run ended (converted) before a page showed it"
    assert rows[f"{run}:popover:1"] == ("skipped", reason)
    assert rows[f"{run}:popover:2"][0] == "sent" and rows[f"{run}:email:1"][0] == "queued"
    shown = await get(settings, "userId=u1")
    assert [p["popover_id"] for p in shown.json()] == [
        "journey-cart_recovery-u1-10:popover:1", "journey-cartXrecovery-u1-1:popover:1",
    ]  # fmt: skip
    with session_scope(database_url) as session:  # an exit-intent page asking to show it
        why_not = claim_popover(session, customer_id="u1", key=f"{run}:popover:1", max_per_day=5)
    assert why_not == f"no longer shown: {reason}"


async def test_a_visitor_who_signs_in_between_two_pages_gets_what_their_visit_queued(
    database_url: str,
) -> None:
    """The cart popover was queued for the anonymous visit; the visitor signs in, the visit is
    merged into the user, and the next page asks as the user: the popover is theirs."""
    settings = Settings(database_url=database_url, write_keys=[KEY], popovers_per_day=5)
    visit = "anon-v1"
    queue(database_url, "journey-cart_recovery-anon-v1-1:popover:1", visit, "cart_recovery_popover")
    queue(database_url, "journey-welcome-someone-1:hello:1", "someone", "welcome_popover")
    with session_scope(database_url) as session:
        upsert_traits(session, customer_id="u1", traits={})
        upsert_traits(session, customer_id=visit, traits={})
    with session_scope(database_url) as session:
        merge_customers(session, source_id=visit, target_id="u1")
    shown = await get(settings, "userId=u1")
    assert [p["popover_id"] for p in shown.json()] == ["journey-cart_recovery-anon-v1-1:popover:1"]
    assert (await get(settings, "userId=u1")).json() == []  # served once, as ever
    with session_scope(database_url) as session:
        served = served_popover(
            session, customer_id="u1", key="journey-cart_recovery-anon-v1-1:popover:1"
        )
        other = claim_popover(
            session, customer_id="u1", key="journey-welcome-someone-1:hello:1", max_per_day=5
        )
    assert served is not None and other == "no such popover for this visitor"
