"""The Segment-compatible tracking endpoints against the local dev server and a real worker."""

import asyncio
import gzip
import json
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
import pytest_asyncio
from sqlmodel import select
from temporalio.client import Client, WorkflowExecutionStatus
from temporalio.testing import WorkflowEnvironment

from journeys.api.app import create_app
from journeys.config.settings import Settings
from journeys.config.temporal import DATA_CONVERTER
from journeys.store.db import session_scope
from journeys.store.models import Customer, Event
from journeys.vocabulary.events import Stage
from journeys.vocabulary.ids import customer_workflow_id
from journeys.worker.main import build_worker
from tests.helpers.api import ADMIN, ADMIN_KEY, basic
from tests.helpers.ports import free_port
from tests.helpers.temporal import wait_for

KEY = "test-write-key"


@pytest.fixture
def settings(sqlite_url: str, task_queue: str) -> Settings:
    return Settings(database_url=sqlite_url, task_queue=task_queue, write_keys=[KEY],
                    admin_key=ADMIN_KEY)  # fmt: skip


@pytest_asyncio.fixture(loop_scope="session")
async def http(
    dev_env: WorkflowEnvironment, settings: Settings
) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(settings, client=dev_env.client)
    async with build_worker(dev_env.client, settings):
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://api"
        ) as c:
            yield c


def stored(settings: Settings, **where: Any) -> list[Event]:
    with session_scope(settings.database_url) as session:
        query = select(Event)
        for name, value in where.items():
            query = query.where(getattr(Event, name) == value)
        return list(session.exec(query))


async def test_track_reaches_the_customer_workflow(
    http: httpx.AsyncClient, dev_env: WorkflowEnvironment, settings: Settings
) -> None:
    user = f"u-{uuid.uuid4()}"
    r = await http.post(
        "/v1/track",
        headers=basic(KEY),
        json={"userId": user, "event": "Checkout Started", "messageId": "m1-" + user},
    )
    assert r.status_code == 200, r.text
    assert r.json() == {"success": True}
    state = await wait_for(dev_env.client, user, lambda s: s.events_total == 1)
    assert state.stage == Stage.DECISION
    [row] = stored(settings, customer_id=user)
    assert row.delivered_at is not None and row.event == "Checkout Started"


async def test_a_retried_message_is_stored_and_applied_once(
    http: httpx.AsyncClient, dev_env: WorkflowEnvironment, settings: Settings
) -> None:
    user = f"u-{uuid.uuid4()}"
    call = {
        "userId": user,
        "event": "Order Completed",
        "messageId": "m-" + user,
        "properties": {"order_id": "o1", "total": 9},
    }
    for _ in range(3):
        assert (await http.post("/v1/track", headers=basic(KEY), json=call)).status_code == 200
    r = await http.post(
        "/v1/batch",
        headers=basic(KEY),
        json={
            "batch": [
                {**call, "type": "track"},
                {
                    "type": "track",
                    "userId": user,
                    "event": "Order Completed",
                    "messageId": "m2-" + user,
                },
            ]
        },
    )
    assert r.status_code == 200, r.text
    state = await wait_for(dev_env.client, user, lambda s: s.events_total >= 2)
    assert state.event_counts == {"Order Completed": 2}
    assert len(stored(settings, customer_id=user)) == 2


async def test_batch_groups_customers_and_identifies_anonymous_browsing(
    http: httpx.AsyncClient, dev_env: WorkflowEnvironment, settings: Settings
) -> None:
    anon, user, other = str(uuid.uuid4()), f"u-{uuid.uuid4()}", f"u-{uuid.uuid4()}"
    r = await http.post(
        "/v1/batch",
        headers=basic(KEY),
        json={
            "batch": [
                {"type": "page", "anonymousId": anon, "name": "Home"},
                {
                    "type": "track",
                    "anonymousId": anon,
                    "event": "Product Viewed",
                    "properties": {"product_id": "p1"},
                },
                {"type": "track", "userId": other, "event": "Product Viewed"},
            ]
        },
    )
    assert r.status_code == 200, r.text
    await wait_for(dev_env.client, f"anon-{anon}", lambda s: s.stage == Stage.CONSIDERATION)
    r = await http.post(
        "/v1/identify",
        headers=basic(KEY),
        json={"userId": user, "anonymousId": anon, "traits": {"plan": "pro"}},
    )
    assert r.status_code == 200
    state = await wait_for(dev_env.client, user, lambda s: f"anon-{anon}" in s.merged_from)
    assert state.stage == Stage.CONSIDERATION and state.events_total == 3
    # later anonymous calls of the same browser route to the identified customer
    r = await http.post(
        "/v1/track", headers=basic(KEY), json={"anonymousId": anon, "event": "Checkout Started"}
    )
    assert r.status_code == 200
    state = await wait_for(dev_env.client, user, lambda s: s.stage == Stage.DECISION)
    assert {e.customer_id for e in stored(settings, anonymous_id=anon)} == {user}


async def test_gzip_and_write_key_in_body_are_accepted(
    http: httpx.AsyncClient, dev_env: WorkflowEnvironment
) -> None:
    user = f"u-{uuid.uuid4()}"
    body = gzip.compress(
        json.dumps({"writeKey": KEY, "userId": user, "event": "Product Viewed"}).encode()
    )
    r = await http.post(
        "/v1/track",
        content=body,
        headers={"Content-Encoding": "gzip", "Content-Type": "application/json"},
    )
    assert r.status_code == 200, r.text
    await wait_for(dev_env.client, user, lambda s: s.events_total == 1)


@pytest.mark.parametrize("headers", [{}, basic("wrong"), {"Authorization": "Basic !!!"}])
async def test_missing_or_wrong_key_is_401(
    http: httpx.AsyncClient, headers: dict[str, str], settings: Settings
) -> None:
    r = await http.post("/v1/track", headers=headers, json={"userId": "x", "event": "E"})
    assert r.status_code == 401
    assert r.headers["www-authenticate"] == "Basic"
    assert stored(settings) == []


@pytest.mark.parametrize(
    ("path", "body", "field"),
    [
        ("/v1/track", {"event": "E"}, "userId"),
        ("/v1/track", {"userId": "u"}, "event"),
        ("/v1/track", {"userId": "u", "event": "E", "timestamp": "yesterday"}, "timestamp"),
        ("/v1/track", {"userId": "u", "event": "E", "properties": [1]}, "properties"),
        ("/v1/alias", {"userId": "u"}, "previousId"),
        ("/v1/group", {"userId": "u"}, "groupId"),
        ("/v1/identify", {"userId": ""}, "userId"),
        ("/v1/batch", {"batch": []}, "batch"),
        (
            "/v1/batch",
            {
                "batch": [
                    {"type": "track", "userId": "u", "event": "E"},
                    {"type": "launch", "userId": "u"},
                ]
            },
            "batch[1].type",
        ),
    ],
)
async def test_bad_input_is_400_naming_the_field(
    http: httpx.AsyncClient, path: str, body: dict[str, Any], field: str, settings: Settings
) -> None:
    r = await http.post(path, headers=basic(KEY), json=body)
    assert r.status_code == 400, r.text
    fields = [e["field"] for e in r.json()["errors"]]
    assert field in fields, r.json()
    assert all(e["reason"] for e in r.json()["errors"])
    assert stored(settings) == []


async def test_a_time_far_in_the_future_is_refused_unless_sent_at_explains_it(
    http: httpx.AsyncClient, dev_env: WorkflowEnvironment, settings: Settings
) -> None:
    """A timestamp a week ahead is refused, naming it; a device whose clock is a week fast
    (its timestamp and sentAt both ahead, as analytics.js sends them) is corrected by the skew
    and accepted."""
    ahead = (datetime.now(UTC) + timedelta(days=7)).isoformat()
    user = f"u-{uuid.uuid4()}"
    track = {"userId": user, "event": "Product Viewed"}
    r = await http.post("/v1/track", headers=basic(KEY), json=track | {"timestamp": ahead})
    assert r.status_code == 400 and r.json()["errors"][0]["field"] == "timestamp", r.text
    r = await http.post("/v1/batch", headers=basic(KEY), json={"batch": [
        {"type": "track", **track, "messageId": "fine"},
        {"type": "track", **track, "messageId": "ahead", "timestamp": ahead},
    ]})  # fmt: skip
    assert r.status_code == 400 and r.json()["errors"][0]["field"] == "batch[1].timestamp"
    absurd = track | {"originalTimestamp": "0001-01-01T00:00:00Z", "sentAt": "9999-01-01T00:00:00Z"}
    r = await http.post("/v1/track", headers=basic(KEY), json=absurd)
    assert r.status_code == 400 and r.json()["errors"][0]["field"] == "sentAt", r.text
    assert stored(settings, user_id=user) == []
    skewed = track | {"timestamp": ahead, "sentAt": ahead}
    r = await http.post("/v1/track", headers=basic(KEY), json=skewed)
    assert r.status_code == 200, r.text
    (event,) = stored(settings, user_id=user)
    assert abs(event.timestamp - datetime.now(UTC)) < timedelta(minutes=1)


async def test_malformed_json_is_400(http: httpx.AsyncClient) -> None:
    r = await http.post(
        "/v1/track", headers={**basic(KEY), "Content-Type": "application/json"}, content=b"{nope"
    )
    assert r.status_code == 400 and r.json()["errors"][0]["field"] == "body"


async def test_segment_size_limits_are_413(http: httpx.AsyncClient, settings: Settings) -> None:
    big = {"userId": "u", "event": "E", "properties": {"blob": "x" * (33 * 1024)}}
    assert (await http.post("/v1/track", headers=basic(KEY), json=big)).status_code == 413
    item = {"type": "track", **big}
    assert (
        await http.post("/v1/batch", headers=basic(KEY), json={"batch": [item]})
    ).status_code == 413
    small = {
        "type": "track",
        "userId": "u",
        "event": "E",
        "properties": {"blob": "x" * (20 * 1024)},
    }
    assert (
        await http.post("/v1/batch", headers=basic(KEY), json={"batch": [small] * 26})
    ).status_code == 413
    assert stored(settings) == []


async def test_concurrent_calls_of_a_customer_are_applied_in_fewer_signals(
    http: httpx.AsyncClient, dev_env: WorkflowEnvironment, settings: Settings
) -> None:
    """The API's group commit: calls that arrive while a flush is under way go together."""
    user = f"u-{uuid.uuid4()}"
    calls = [
        {"userId": user, "event": "Product Viewed", "messageId": f"v{n}-{user}"} for n in range(30)
    ]
    answers = await asyncio.gather(
        *(http.post("/v1/track", headers=basic(KEY), json=call) for call in calls)
    )
    assert [r.status_code for r in answers] == [200] * 30
    state = await wait_for(dev_env.client, user, lambda s: s.events_total == 30)
    assert state.event_counts == {"Product Viewed": 30}
    assert all(row.delivered_at is not None for row in stored(settings, customer_id=user))
    history = await dev_env.client.get_workflow_handle(f"customer-{user}").fetch_history()
    signals = [
        e for e in history.events if e.HasField("workflow_execution_signaled_event_attributes")
    ]
    assert len(signals) < 10, f"{len(signals)} signals for 30 concurrent calls"


async def test_temporal_down_is_503_and_nothing_is_kept_until_the_retry(
    http: httpx.AsyncClient, dev_env: WorkflowEnvironment, settings: Settings
) -> None:
    down = await Client.connect(
        f"127.0.0.1:{free_port()}", data_converter=DATA_CONVERTER, lazy=True
    )
    app = create_app(settings, client=down)
    user = f"u-{uuid.uuid4()}"
    call = {"userId": user, "event": "Order Completed", "messageId": "m-" + user}
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://api"
    ) as dead:
        r = await dead.post("/v1/track", headers=basic(KEY), json=call)
    assert r.status_code == 503 and r.headers["retry-after"]
    assert stored(settings, customer_id=user) == []
    r = await http.post("/v1/track", headers=basic(KEY), json=call)  # the client's retry
    assert r.status_code == 200
    state = await wait_for(dev_env.client, user, lambda s: s.events_total == 1)
    assert state.stage == Stage.ONBOARDING


async def test_a_gzip_bomb_is_413_without_inflating_it(http: httpx.AsyncClient) -> None:
    bomb = gzip.compress(
        b'{"userId": "u", "event": "E", "x": "' + b"a" * (20 * 1024 * 1024) + b'"}'
    )
    assert len(bomb) < 32 * 1024
    headers = {**basic(KEY), "Content-Encoding": "gzip", "Content-Type": "application/json"}
    r = await http.post("/v1/track", content=bomb, headers=headers)
    assert r.status_code == 413


async def merge_stored(settings: Settings, source: str, *, into: str) -> None:
    """Until the store knows `source` was merged into `into` (the API routes by it)."""
    with session_scope(settings.database_url) as session:
        for _ in range(100):
            if (row := session.get(Customer, source)) is not None and row.merged_into == into:
                return
            session.expire_all()
            await asyncio.sleep(0.1)
    raise AssertionError(f"the store never recorded {source} merged into {into}")


async def test_after_a_user_to_user_alias_the_old_id_reaches_the_survivor_for_good(
    http: httpx.AsyncClient, dev_env: WorkflowEnvironment, settings: Settings
) -> None:
    """Once merged, the old userId's calls are routed to the customer it became, even after
    the old customer's workflow is gone (it used to be recreated, empty)."""
    old, new = f"u-{uuid.uuid4()}", f"u-{uuid.uuid4()}"
    client = dev_env.client
    r = await http.post("/v1/track", headers=basic(KEY),
                        json={"userId": old, "event": "Product Viewed"})  # fmt: skip
    assert r.status_code == 200
    await wait_for(client, old, lambda s: s.events_total == 1)
    r = await http.post("/v1/alias", headers=basic(KEY), json={"userId": new, "previousId": old})
    assert r.status_code == 200
    await wait_for(client, new, lambda s: old in s.merged_from)
    await merge_stored(settings, old, into=new)
    await client.get_workflow_handle(customer_workflow_id(old)).terminate("the old one is gone")
    r = await http.post("/v1/track", headers=basic(KEY),
                        json={"userId": old, "event": "Checkout Started"})  # fmt: skip
    assert r.status_code == 200
    state = await wait_for(client, new, lambda s: s.event_counts.get("Checkout Started") == 1)
    assert state.stage == Stage.DECISION
    assert {e.customer_id for e in stored(settings, user_id=old)} == {new}
    described = await client.get_workflow_handle(customer_workflow_id(old)).describe()
    assert described.status == WorkflowExecutionStatus.TERMINATED  # not started again


async def test_aliases_that_form_a_loop_leave_one_customer(
    http: httpx.AsyncClient, dev_env: WorkflowEnvironment, settings: Settings
) -> None:
    """a → b, then b → a (and a → a): accepted, one customer keeps every event, and later
    calls under either id reach it — no merge back, no workflow stuck."""
    a, b = f"u-{uuid.uuid4()}", f"u-{uuid.uuid4()}"
    client = dev_env.client
    for user in (a, b):
        r = await http.post("/v1/track", headers=basic(KEY),
                            json={"userId": user, "event": "Product Viewed"})  # fmt: skip
        assert r.status_code == 200
    r = await http.post("/v1/alias", headers=basic(KEY), json={"userId": b, "previousId": a})
    assert r.status_code == 200
    await wait_for(client, b, lambda s: a in s.merged_from)
    await merge_stored(settings, a, into=b)
    for loop in ({"userId": a, "previousId": b}, {"userId": a, "previousId": a}):
        r = await http.post("/v1/alias", headers=basic(KEY), json=loop)
        assert r.status_code == 200, r.text
    for user in (a, b):
        r = await http.post("/v1/track", headers=basic(KEY),
                            json={"userId": user, "event": "Checkout Started"})  # fmt: skip
        assert r.status_code == 200
    state = await wait_for(client, b, lambda s: s.event_counts.get("Checkout Started") == 2)
    assert state.event_counts["Product Viewed"] == 2 and state.merged_into is None
    assert (await client.get_workflow_handle(customer_workflow_id(b)).describe()).status == (
        WorkflowExecutionStatus.RUNNING
    )


async def test_a_user_id_that_looks_anonymous_is_its_own_customer(
    http: httpx.AsyncClient, dev_env: WorkflowEnvironment, settings: Settings
) -> None:
    visitor = str(uuid.uuid4())
    r = await http.post("/v1/track", headers=basic(KEY),
                        json={"anonymousId": visitor, "event": "Product Viewed"})  # fmt: skip
    assert r.status_code == 200
    r = await http.post("/v1/track", headers=basic(KEY),
                        json={"userId": f"anon-{visitor}", "event": "Order Completed"})  # fmt: skip
    assert r.status_code == 200
    person = await wait_for(dev_env.client, f"~anon-{visitor}", lambda s: s.events_total == 1)
    browser = await wait_for(dev_env.client, f"anon-{visitor}", lambda s: s.events_total == 1)
    assert person.event_counts == {"Order Completed": 1}
    assert browser.event_counts == {"Product Viewed": 1}


async def test_group_calls_keep_the_account_s_traits_and_the_customer_s_membership(
    http: httpx.AsyncClient, dev_env: WorkflowEnvironment, settings: Settings
) -> None:
    """Group traits used to be passed along and never stored. An alias brings the anonymous
    visitor's groups to the customer it became."""
    user, visitor, acme = f"u-{uuid.uuid4()}", str(uuid.uuid4()), f"acme-{uuid.uuid4()}"
    calls = [
        {"type": "group", "userId": user, "groupId": acme, "traits": {"name": "Acme", "seats": 5}},
        {"type": "group", "anonymousId": visitor, "groupId": "beta", "traits": {}},
        {"type": "group", "userId": user, "groupId": acme, "traits": {"seats": 12}},
    ]
    for call in calls:  # one after the other: the latest value of a trait wins
        r = await http.post("/v1/group", headers=basic(KEY), json=call)
        assert r.status_code == 200, r.text
    r = await http.post("/v1/identify", headers=basic(KEY),
                        json={"userId": user, "anonymousId": visitor})  # fmt: skip
    assert r.status_code == 200
    await wait_for(dev_env.client, user, lambda s: f"anon-{visitor}" in s.merged_from)
    for _ in range(100):  # the store merges the profiles a moment after the workflow
        mine = (await http.get(f"/v1/customers/{user}/groups", headers=ADMIN)).json()
        if len(mine["groups"]) == 2:
            break
        await asyncio.sleep(0.1)
    assert [(g["group_id"], g["traits"]) for g in mine["groups"]] == [
        (acme, {"name": "Acme", "seats": 12}), ("beta", {}),
    ]  # fmt: skip
    account = (await http.get(f"/v1/groups/{acme}", headers=ADMIN)).json()
    assert account["members"] == [user] and account["traits"]["seats"] == 12
    assert (await http.get("/v1/groups/nope", headers=ADMIN)).status_code == 404
