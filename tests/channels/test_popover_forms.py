"""Popover kinds that carry more than words: every kind ships a template whose fields fit it;
forms (data capture, survey, email my basket) are answered once through
`POST /v1/popovers/{id}/submit`, checked against their questions and stored as Segment calls
and subscription groups; product popovers list the cart's, the recommend step's or the viewed
products."""

import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlmodel import select
from temporalio.testing import WorkflowEnvironment

from journeys.api.app import create_app
from journeys.channels.forms import read_answers
from journeys.channels.templates import FormField, load_templates
from journeys.config.settings import ConfigError, Settings
from journeys.store.consent import subscriptions
from journeys.store.customers import record_order
from journeys.store.db import session_scope, upgrade_schema
from journeys.store.models import Event, Message
from journeys.store.recommendations import upsert_products
from journeys.vocabulary.ids import anonymous_customer_id

KEY = "site-key"
VISITOR = "browser-7"
CUSTOMER = anonymous_customer_id(VISITOR)


def test_every_kind_ships_a_template() -> None:
    kinds = {t.popover.kind for t in load_templates().values() if t.popover}
    assert kinds == {
        "welcome", "cart_recovery", "exit_intent", "product_recommendation",
        "time_sensitive_offer", "retargeting", "email_my_basket", "data_capture", "survey",
    }  # fmt: skip


MISFITS = """
no_form: {popover: {kind: data_capture, fields: {title: T, cta: Go}}}
no_button: {popover: {kind: survey, fields: {title: T},
            form: [{name: score, label: S, type: rating}]}}
stray_field: {popover: {kind: welcome, fields: {title: T, ends_at: "2030-01-01"}}}
form_on_welcome: {popover: {kind: welcome, fields: {title: T},
                  form: [{name: email, label: E, type: email}]}}
basket_asks_more: {popover: {kind: email_my_basket, fields: {title: T, cta: Go},
                   form: [{name: email, label: E, type: email, required: true},
                          {name: first_name, label: F, type: text}]}}
only_consent: {popover: {kind: data_capture, fields: {title: T, cta: Go},
               form: [{name: ok, label: OK, type: consent, channel: email, topic: newsletter}]}}
unknown_topic: {popover: {kind: data_capture, fields: {title: T, cta: Go},
                form: [{name: email, label: E, type: email},
                       {name: ok, label: OK, type: consent, channel: email, topic: gossip}]}}
choice_without_choices: {popover: {kind: survey, fields: {title: T, cta: Go},
                         form: [{name: where, label: W, type: choice}]}}
reserved_name: {popover: {kind: survey, fields: {title: T, cta: Go},
                form: [{name: popover_id, label: W, type: text}]}}
event_on_capture: {popover: {kind: data_capture, event: Lead Captured,
                   fields: {title: T, cta: Go}, form: [{name: email, label: E, type: email}]}}
"""


def test_publishing_checks_each_templates_fields_against_its_kind(tmp_path: Path) -> None:
    (tmp_path / "t.yaml").write_text(MISFITS)
    (tmp_path / "topics.yaml").write_text("topics: {newsletter: {description: News}}\n")
    with pytest.raises(ConfigError) as refused:
        load_templates(tmp_path)
    lines = str(refused.value).splitlines()[1:]
    said = {line.split(": ", 1)[1].split(".", 1)[0]: line for line in lines}
    assert set(said) == {
        "no_form", "no_button", "stray_field", "form_on_welcome", "basket_asks_more",
        "only_consent", "unknown_topic", "choice_without_choices", "reserved_name",
        "event_on_capture",
    }  # fmt: skip
    assert "a data_capture needs a form" in said["no_form"]
    assert "a survey needs fields.cta: the label of the button" in said["no_button"]
    assert "fields.ends_at is not a field of a welcome" in said["stray_field"]
    assert "a welcome has no form" in said["form_on_welcome"]
    assert "asks one email question" in said["basket_asks_more"]
    assert "needs a question besides consent boxes" in said["only_consent"]
    assert "form.1.topic: unknown topic 'gossip'" in said["unknown_topic"]
    assert "a choice question needs them" in said["choice_without_choices"]
    assert "'popover_id' is what the answers event says itself" in said["reserved_name"]
    assert "only a survey names the event" in said["event_on_capture"]


QUESTIONS = [
    FormField(name="email", label="E", type="email", required=True),
    FormField(name="phone", label="P", type="phone"),
    FormField(name="size", label="S", type="choice", choices=["S", "M", "L"]),
    FormField(name="stars", label="R", type="rating"),
    FormField(name="age", label="A", type="number", min=18),
    FormField(name="note", label="N", type="text", max_length=5),
    FormField(name="news", label="C", type="consent", channel="email", topic="newsletter"),
]


@pytest.mark.parametrize(
    ("answers", "field", "reason"),
    [
        ({}, "answers.email", "required"),
        ({"email": "ann@"}, "answers.email", "not an email address"),
        ({"email": 5}, "answers.email", "text"),
        ({"email": "a@b.co", "phone": "call me"}, "answers.phone", "not a phone number"),
        ({"email": "a@b.co", "size": "XL"}, "answers.size", "one of: S, M, L"),
        ({"email": "a@b.co", "stars": 6}, "answers.stars", "from 1 to 5"),
        ({"email": "a@b.co", "stars": 2.5}, "answers.stars", "a whole number"),
        ({"email": "a@b.co", "stars": True}, "answers.stars", "a number"),
        ({"email": "a@b.co", "age": 12}, "answers.age", "at least 18"),
        ({"email": "a@b.co", "note": "far too long"}, "answers.note", "at most 5 characters"),
        ({"email": "a@b.co", "note": "a\x07b"}, "answers.note", "contains control characters"),
        ({"email": "a@b.co", "news": "yes"}, "answers.news", "true or false"),
        (
            {"email": "a@b.co", "colour": "red"},
            "answers.colour",
            "not a question of this form (email, phone, size, stars, age, note, news)",
        ),
    ],
)
def test_each_answer_is_checked_against_its_question(
    answers: dict[str, Any], field: str, reason: str
) -> None:
    assert read_answers(QUESTIONS, answers).problems == [{"field": field, "reason": reason}]


def test_good_answers_come_back_clean_with_the_ticked_groups() -> None:
    read = read_answers(QUESTIONS, {"email": " ann@shop.test ", "stars": 4.0, "size": "M",
                                    "news": True, "note": None, "age": 30})  # fmt: skip
    assert read.problems == []
    assert read.values == {"email": "ann@shop.test", "stars": 4, "size": "M", "age": 30}
    assert read.consents == [("email", "newsletter")]
    assert read_answers(QUESTIONS, {"email": "a@b.co", "news": False}).consents == []


@pytest.fixture
async def site(dev_env: WorkflowEnvironment, sqlite_url: str) -> AsyncIterator[httpx.AsyncClient]:
    """The API (shipped templates) in process, on the dev server, as the website calls it."""
    upgrade_schema(sqlite_url)
    settings = Settings(database_url=sqlite_url, write_keys=[KEY], popovers_per_session=9,
                        popovers_per_day=9)  # fmt: skip
    app = create_app(settings, client=dev_env.client)
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://api"
    ) as c:
        yield c


def queue(url: str, key: str, template: str, context: dict[str, Any] | None = None) -> None:
    with session_scope(url) as session:
        session.add(Message(idempotency_key=key, customer_id=CUSTOMER, journey="j", step="s",
                            channel="popover", template=template, status="queued",
                            context=context or {}))  # fmt: skip


async def shown(site: httpx.AsyncClient) -> dict[str, dict[str, Any]]:
    """What a page view gets now, by popover id (which serves it)."""
    got = await site.get("/v1/popovers", params={"writeKey": KEY, "anonymousId": VISITOR})
    assert got.status_code == 200, got.text
    return {p["popover_id"]: p for p in got.json()}


async def submit(site: httpx.AsyncClient, key: str, answers: Any, visitor: str = VISITOR
                 ) -> httpx.Response:  # fmt: skip
    body = {"writeKey": KEY, "anonymousId": visitor, "answers": answers}
    return await site.post(f"/v1/popovers/{key}/submit", content=json.dumps(body),
                           headers={"Content-Type": "text/plain"})  # fmt: skip


def stored_calls(url: str) -> dict[str, dict[str, Any]]:
    """The visitor's stored calls by event (type for identify)."""
    with session_scope(url) as session:
        rows = session.exec(select(Event).where(Event.customer_id == CUSTOMER)).all()
        return {e.event or e.type: e.payload for e in rows}


@pytest.mark.slow
async def test_a_data_capture_form_stores_traits_and_consent_once(
    site: httpx.AsyncClient, sqlite_url: str
) -> None:
    queue(sqlite_url, "cap-1", "data_capture_offer")
    queue(sqlite_url, "hello-1", "welcome_popover")
    assert (await submit(site, "cap-1", {"email": "ann@shop.test"})).status_code == 404  # unseen
    due = await shown(site)
    form = due["cap-1"]["form"]
    assert [(q["name"], q["type"]) for q in form] == [
        ("email", "email"), ("first_name", "text"), ("newsletter", "consent"),
    ]  # fmt: skip
    assert due["hello-1"]["form"] == [] and due["hello-1"]["products"] == []

    bad = await submit(site, "cap-1", {"email": "ann", "shoe_size": 9})
    assert bad.status_code == 400
    assert bad.json()["errors"] == [
        {"field": "answers.shoe_size", "reason": "not a question of this form (email, "
         "first_name, newsletter)"},
        {"field": "answers.email", "reason": "not an email address"},
    ]  # fmt: skip
    assert bad.headers["access-control-allow-origin"] == "*"  # the shop's page can read it
    assert stored_calls(sqlite_url) == {}  # nothing of a refused answer is kept

    answers = {"email": "ann@shop.test", "first_name": "Ann", "newsletter": True}
    ok = await submit(site, "cap-1", answers)
    assert ok.status_code == 200, ok.text
    calls = stored_calls(sqlite_url)
    assert calls["identify"]["traits"] == {"email": "ann@shop.test", "first_name": "Ann"}
    assert calls["Popover Submitted"]["properties"] == {
        "popover_id": "cap-1", "journey": "j", "kind": "data_capture"}  # fmt: skip
    with session_scope(sqlite_url) as session:
        groups = [(s.channel, s.topic, s.subscribed, s.source)
                  for s in subscriptions(session, customer_id=CUSTOMER)]  # fmt: skip
        assert session.get(Message, "cap-1").outcome == "submitted"  # type: ignore[union-attr]
    assert groups == [("email", "newsletter", True, "popover")]

    again = await submit(site, "cap-1", {"email": "other@shop.test"})
    assert again.status_code == 409 and "answered already" in again.json()["error"]
    assert stored_calls(sqlite_url)["identify"]["traits"]["email"] == "ann@shop.test"
    assert (await submit(site, "cap-1", answers, visitor="someone-else")).status_code == 404
    welcome = await submit(site, "hello-1", {})
    assert welcome.status_code == 409 and "has no form" in welcome.json()["error"]


@pytest.mark.slow
async def test_a_survey_sends_its_answers_and_a_basket_request_carries_the_cart(
    site: httpx.AsyncClient, sqlite_url: str
) -> None:
    cart = [{"product_id": "boot-1", "name": "Trail boot", "price": 89.5, "quantity": 2,
             "url": "https://shop.test/boot-1"}, {"sku": "sock-9", "price": "free"}]  # fmt: skip
    queue(sqlite_url, "survey-1", "shop_survey_popover")
    queue(sqlite_url, "basket-1", "email_my_basket_popover", {"properties": {"products": cart}})
    due = await shown(site)
    cards = due["basket-1"]["products"]
    assert cards == [
        {"product_id": "boot-1", "name": "Trail boot", "price": 89.5, "quantity": 2.0,
         "url": "https://shop.test/boot-1", "image_url": None},
        {"product_id": "sock-9", "name": "sock-9", "price": None, "quantity": None, "url": None,
         "image_url": None},
    ]  # fmt: skip

    out_of_range = await submit(site, "survey-1", {"found_it": 9})
    assert out_of_range.json()["errors"] == [{"field": "answers.found_it", "reason": "from 1 to 5"}]
    ok = await submit(site, "survey-1", {"found_it": 4, "heard_from": "A friend"})
    assert ok.status_code == 200
    assert stored_calls(sqlite_url)["Survey Answered"]["properties"] == {
        "found_it": 4, "heard_from": "A friend", "popover_id": "survey-1", "journey": "j",
        "survey": "shop_survey_popover",
    }  # fmt: skip

    assert (await submit(site, "basket-1", {"email": "bob@shop.test"})).status_code == 200
    calls = stored_calls(sqlite_url)
    assert calls["identify"]["traits"] == {"email": "bob@shop.test"}
    assert calls["Basket Email Requested"]["properties"]["products"] == cards


@pytest.mark.slow
async def test_product_popovers_list_the_recommend_steps_or_the_viewed_products(
    site: httpx.AsyncClient, sqlite_url: str
) -> None:
    queue(sqlite_url, "early-1", "still_thinking_popover")
    assert await shown(site) == {}  # nothing viewed yet: nothing to show again
    with session_scope(sqlite_url) as session:
        early = session.get(Message, "early-1")
        assert early is not None and early.status == "skipped"
        assert early.reason == "no viewed products to show again"
        upsert_products(session, products=[
            {"product_id": p, "name": name, "price": price}
            for p, name, price in (("tent-1", "Tent", 199.0), ("mat-1", "Mat", 29.0),
                                   ("lamp-1", "Lamp", 15.0))
        ])  # fmt: skip
    for i, product in enumerate(("tent-1", "lamp-1", "mat-1")):
        body = {"writeKey": KEY, "anonymousId": VISITOR, "event": "Product Viewed",
                "messageId": f"m{i}", "properties": {"product_id": product},
                "timestamp": datetime(2026, 12, 1, 10, i, tzinfo=UTC).isoformat()}  # fmt: skip
        assert (await site.post("/v1/track", json=body)).status_code == 200
    with session_scope(sqlite_url) as session:  # what the worker records of an order
        record_order(session, order_id="o1", customer_id=CUSTOMER, at=datetime.now(UTC),
                     properties={"products": [{"product_id": "lamp-1"}]})  # fmt: skip
    picks = [{"product_id": "mat-1", "name": "Mat", "price": 29.0, "extra": {"score": 1}}]
    queue(sqlite_url, "again-1", "still_thinking_popover")
    queue(sqlite_url, "picks-1", "picked_for_you_popover", {"products": picks})
    due = await shown(site)
    # viewed, newest first, not the lamp they bought
    assert [p["name"] for p in due["again-1"]["products"]] == ["Mat", "Tent"]
    assert [p["name"] for p in due["picks-1"]["products"]] == ["Mat"]  # the recommend step's
