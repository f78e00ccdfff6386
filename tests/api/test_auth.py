"""Every route of the API, found from the app itself: the public ones a website or a provider
calls are listed here with the key they need; every other one refuses without the admin key.
A route added later is covered without anyone remembering to list it."""

import re
from typing import Any

import httpx
import pytest

from journeys.api.app import create_app
from journeys.config.settings import Settings

# path -> what guards it instead of the admin key
PUBLIC = {
    "/healthz": "nothing",
    "/v1/unsubscribe": "a signed link",
    "/v1/t/o/{token}.gif": "a signed token (always answers the pixel)",
    "/v1/t/c/{token}": "a signed token",
    "/v1/providers/{channel}/events": "the provider's token",
    "/v1/popovers": "a write key",
    "/v1/recommendations/{userId}": "a write key",
    **{f"/v1/{call}": "a write key" for call in
       ("identify", "track", "page", "screen", "group", "alias", "batch", "import")},
}  # fmt: skip


def admin_routes(settings: Settings) -> list[tuple[str, str]]:
    """Every documented route that is not public (the OpenAPI document lists them all)."""
    app = create_app(settings, client=object())  # type: ignore[arg-type]
    found = []
    for path, operations in app.openapi()["paths"].items():
        if path in PUBLIC:
            continue
        for method in sorted(operations):
            found.append((method.upper(), re.sub(r"\{[^}]+\}", "x", path)))
    return found


@pytest.fixture
def settings(sqlite_url: str) -> Settings:
    return Settings(database_url=sqlite_url, admin_key="admin-secret", write_keys=["w"])


def test_the_management_surface_is_large_and_known(settings: Settings) -> None:
    routes = admin_routes(settings)
    assert len(routes) >= 20, routes  # journeys, tasks, templates, segments, consent, products...
    assert ("GET", "/v1/journeys") in routes and ("PUT", "/v1/segments/x") in routes


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"Authorization": "Bearer wrong"},
        {"Authorization": "Basic dzo="},
        {"Authorization": "Bearer w"},
    ],
    ids=["none", "wrong", "write key as basic", "write key as bearer"],
)
async def test_every_admin_route_refuses_without_the_admin_key(
    settings: Settings, headers: dict[str, str]
) -> None:
    app = create_app(settings, client=object())  # type: ignore[arg-type]
    refused: list[Any] = []
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://api"
    ) as c:
        for method, path in admin_routes(settings):
            r = await c.request(method, path, headers=headers, json={})
            refused.append((method, path, r.status_code))
    assert [x for x in refused if x[2] != 401] == []
