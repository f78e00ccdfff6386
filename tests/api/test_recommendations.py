"""`GET /v1/recommendations/{userId}` (write key) and the catalogue routes (admin key)."""

from collections.abc import AsyncIterator

import httpx
import pytest
import pytest_asyncio

from journeys.activities.recommendations import RecommendationActivities
from journeys.api.app import create_app
from journeys.config.settings import Settings
from journeys.vocabulary.recommendation_types import TrainRecommendersInput

ADMIN = {"Authorization": "Bearer admin-secret"}
WRITE = ("write-key", "")


@pytest_asyncio.fixture(loop_scope="session")
async def http(shop: str, task_queue: str) -> AsyncIterator[httpx.AsyncClient]:
    settings = Settings(
        database_url=shop, task_queue=task_queue, admin_key="admin-secret",
        write_keys=["write-key"], quiet_hours="",
    )  # fmt: skip
    RecommendationActivities(shop).train_recommenders(TrainRecommendersInput())
    app = create_app(settings, client=None)  # type: ignore[arg-type]  (no Temporal needed)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://api") as client:
        yield client


async def test_recommendations_for_a_customer(http: httpx.AsyncClient) -> None:
    r = await http.get("/v1/recommendations/me", params={"kind": "people_like_you", "k": 1},
                       auth=WRITE)  # fmt: skip
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["kind"] == "people_like_you" and body["model_version"] == 1
    assert [p["product_id"] for p in body["products"]] == ["tarp"]
    assert body["products"][0]["name"] == "Tent tarp"


async def test_seeds_and_the_write_key_in_the_query(http: httpx.AsyncClient) -> None:
    r = await http.get(
        "/v1/recommendations/me",
        params={"kind": "bought_together", "k": 1, "productId": ["tent", "unknown"],
                "writeKey": "write-key"},
    )  # fmt: skip
    assert r.status_code == 200, r.text
    assert [p["product_id"] for p in r.json()["products"]] == ["tarp"]


async def test_a_known_customer_without_history_gets_the_fallback(http: httpx.AsyncClient) -> None:
    r = await http.get("/v1/recommendations/newbie", params={"kind": "people_like_you", "k": 2},
                       auth=WRITE)  # fmt: skip
    assert r.status_code == 200
    body = r.json()
    assert body["fallback"] == "no history" and body["model_version"] is None
    assert [p["product_id"] for p in body["products"]][0] == "socks"


@pytest.mark.parametrize(
    ("params", "field", "reason"),
    [
        ({"kind": "psychic"}, "kind", "unknown kind 'psychic'"),
        ({"kind": "trending", "k": 0}, "k", "greater than or equal to 1"),
        ({"kind": "trending", "k": 101}, "k", "less than or equal to 100"),
        ({}, "kind", "Field required"),
    ],
)
async def test_bad_requests_name_the_field(
    http: httpx.AsyncClient, params: dict[str, object], field: str, reason: str
) -> None:
    r = await http.get("/v1/recommendations/me", params=params, auth=WRITE)
    assert r.status_code == 400
    errors = r.json()["errors"]
    assert errors[0]["field"] == field and reason in errors[0]["reason"], errors


async def test_an_unknown_customer_is_404(http: httpx.AsyncClient) -> None:
    r = await http.get("/v1/recommendations/ghost", params={"kind": "trending"}, auth=WRITE)
    assert r.status_code == 404
    assert r.json()["errors"][0]["field"] == "userId"


@pytest.mark.parametrize("auth", [None, ("wrong", "")])
async def test_without_the_write_key_401(
    http: httpx.AsyncClient, auth: tuple[str, str] | None
) -> None:
    r = await http.get("/v1/recommendations/me", params={"kind": "trending"}, auth=auth)
    assert r.status_code == 401


async def test_catalogue_and_links_need_the_admin_key(http: httpx.AsyncClient) -> None:
    for method, path, body in [
        ("PUT", "/v1/products", []),
        ("GET", "/v1/products/tent/related", None),
        ("PUT", "/v1/products/tent/related", {"related": []}),
    ]:
        r = await http.request(method, path, json=body, auth=WRITE)
        assert r.status_code == 401, path


async def test_merchandiser_links_are_served_at_once(http: httpx.AsyncClient) -> None:
    r = await http.put("/v1/products", headers=ADMIN, json=[
        {"product_id": "lamp", "name": "Lantern", "category": "camping", "price": 25},
    ])  # fmt: skip
    assert r.json() == {"upserted": 1}
    r = await http.put("/v1/products/tent/related", headers=ADMIN,
                       json={"related": ["lamp", "mug"]})  # fmt: skip
    assert r.status_code == 200, r.text
    r = await http.get("/v1/products/tent/related", headers=ADMIN)
    assert r.json() == {"product_id": "tent", "related": ["lamp", "mug"]}
    r = await http.get("/v1/recommendations/newbie", auth=WRITE,
                       params={"kind": "related", "k": 2, "productId": "tent"})  # fmt: skip
    assert [p["product_id"] for p in r.json()["products"]] == ["lamp", "mug"]


async def test_bad_links_are_refused(http: httpx.AsyncClient) -> None:
    r = await http.put("/v1/products/tent/related", headers=ADMIN,
                       json={"related": ["tent", "nope"]})  # fmt: skip
    assert r.status_code == 400
    assert r.json()["errors"] == [
        {"field": "related[0]", "reason": "a product cannot be related to itself"},
        {"field": "related[1]", "reason": "no product 'nope'"},
    ]
    r = await http.put("/v1/products/nope/related", headers=ADMIN, json={"related": []})
    assert r.status_code == 404
    r = await http.put("/v1/products", headers=ADMIN, json=[{"product_id": "x"}])
    assert r.status_code == 400 and r.json()["errors"][0]["field"] == "0.name"
