"""Segment endpoints: admin key, 400 with field and reason, 404, and the happy paths."""

from datetime import UTC, datetime
from typing import Any

import httpx
import pytest

from journeys.activities.segments import evaluate_customer
from journeys.config.settings import Settings
from journeys.store.db import session_scope
from journeys.store.models import Customer
from tests.helpers.api import ADMIN

UK = {"description": "in the UK", "condition": {"field": "traits.country", "eq": "GB"}}

ROUTES = [
    ("PUT", "/v1/segments/uk", UK),
    ("GET", "/v1/segments", None),
    ("GET", "/v1/segments/uk", None),
    ("GET", "/v1/segments/uk/members", None),
    ("POST", "/v1/segments/uk/archive", None),
    ("POST", "/v1/segments/uk/activate", None),
    ("GET", "/v1/customers/u1/segments", None),
]


@pytest.mark.parametrize(("method", "path", "body"), ROUTES)
@pytest.mark.parametrize("headers", [{}, {"Authorization": "Bearer wrong"}])
async def test_every_segment_endpoint_needs_the_admin_key(
    http: httpx.AsyncClient, method: str, path: str, body: Any, headers: dict[str, str]
) -> None:
    r = await http.request(method, path, json=body, headers=headers)
    assert r.status_code == 401, r.text
    assert (await http.get("/v1/segments", headers=ADMIN)).json() == []


async def test_an_unknown_field_or_operator_is_400_with_where(http: httpx.AsyncClient) -> None:
    body = {"condition": {"all": [
        {"field": "traits.shoe_size", "eq": 42},
        {"not": {"field": "traits.age", "between": [1, 2]}},
        {"field": "engagement", "eq": "extreme"},
    ]}}  # fmt: skip
    r = await http.put("/v1/segments/bad", json=body, headers=ADMIN)
    assert r.status_code == 400
    errors = {e["field"]: e["reason"] for e in r.json()["errors"]}
    assert set(errors) == {
        "condition.all[0].field",
        "condition.all[1].not.between",
        "condition.all[2].eq",
    }
    assert "unknown field 'traits.shoe_size'" in errors["condition.all[0].field"]
    r = await http.put("/v1/segments/uk", json={**UK, "name": "other"}, headers=ADMIN)
    assert r.status_code == 400 and r.json()["errors"][0]["field"] == "name"
    r = await http.put("/v1/segments/Not-A-Name", json=UK, headers=ADMIN)
    assert r.status_code == 400 and r.json()["errors"][0]["field"] == "name"
    assert (await http.get("/v1/segments", headers=ADMIN)).json() == []


async def test_unknown_segment_or_customer_is_404(http: httpx.AsyncClient) -> None:
    for path in ("/v1/segments/nope", "/v1/segments/nope/members",
                 "/v1/customers/nobody/segments"):  # fmt: skip
        r = await http.get(path, headers=ADMIN)
        assert r.status_code == 404, path
        assert "nope" in r.json()["error"] or "nobody" in r.json()["error"]
    assert (await http.post("/v1/segments/nope/archive", headers=ADMIN)).status_code == 404


async def test_save_read_members_and_customer_segments(
    http: httpx.AsyncClient, settings: Settings
) -> None:
    r = await http.put("/v1/segments/uk", json=UK, headers=ADMIN)
    assert r.json() == {"name": "uk", "version": 1, "created": True, "changed": True}
    r = await http.put("/v1/segments/uk", json=UK, headers=ADMIN)
    assert r.json()["changed"] is False and r.json()["version"] == 1
    changed = {**UK, "condition": {"field": "traits.country", "in": ["GB", "UK"]}}
    assert (await http.put("/v1/segments/uk", json=changed, headers=ADMIN)).json()["version"] == 2
    shown = (await http.get("/v1/segments/uk", headers=ADMIN)).json()
    assert shown["definition"]["condition"] == {"field": "traits.country", "in": ["GB", "UK"]}
    assert [s["name"] for s in (await http.get("/v1/segments", headers=ADMIN)).json()] == ["uk"]

    now = datetime(2025, 1, 1, tzinfo=UTC)
    with session_scope(settings.database_url) as session:
        session.add(Customer(customer_id="u1", traits={"country": "GB"}, created_at=now,
                             updated_at=now))  # fmt: skip
    with session_scope(settings.database_url) as session:
        evaluate_customer(session, customer_id="u1", stage="awareness", at=now)
    members = (await http.get("/v1/segments/uk/members", headers=ADMIN)).json()
    assert [m["customer_id"] for m in members["members"]] == ["u1"]
    mine = (await http.get("/v1/customers/u1/segments", headers=ADMIN)).json()
    assert mine["segments"] == ["uk"]
    assert mine["history"][0]["entered_at"] == now.isoformat()
    archived = await http.post("/v1/segments/uk/archive", headers=ADMIN)
    assert archived.json()["status"] == "archived"
