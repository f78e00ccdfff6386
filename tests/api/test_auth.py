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
    "/v1/popovers.js": "nothing: the website snippet, the same for every shop",
    "/v1/popovers/{popover_id}/shown": "a write key",
    "/v1/popovers/{popover_id}/submit": "a write key",
    "/v1/recommendations/{userId}": "a write key",
    "/console/sign-in": "nothing: it is where the key is given",
    "/console/sign-out": "nothing: it only forgets the console's cookie",
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
    # a browser with no key at all is sent from a console page to its sign-in form
    expected = {path: 303 if not headers and path.startswith("/console") else 401
                for _, path in admin_routes(settings)}  # fmt: skip
    assert [x for x in refused if x[2] != expected[x[1]]] == []


async def test_the_key_is_checked_before_the_body_is_read(settings: Settings) -> None:
    """A caller without the key learns nothing about what a route accepts: a body that is not
    JSON, or too big, gets the 401 first — on admin routes and on tracking calls alike."""
    app = create_app(settings, client=object())  # type: ignore[arg-type]
    json_type = {"Content-Type": "application/json"}
    bodies = {"not json": b"{not json", "600 KB": b'{"a": "' + b"x" * 600_000 + b'"}'}
    refused: list[Any] = []
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://api"
    ) as c:
        for label, body in bodies.items():
            for method, path in admin_routes(settings):
                if method in ("POST", "PUT", "PATCH"):
                    r = await c.request(method, path, headers=json_type, content=body)
                    refused.append((label, method, path, r.status_code))
            for path in ("/v1/track", "/v1/batch"):
                for auth in ({}, {"Authorization": "Basic d3Jvbmc6"}):  # none; "wrong:"
                    r = await c.post(path, headers=json_type | auth, content=body)
                    refused.append((label, "POST", path, auth, r.status_code))
        # a malformed query, too: the popovers' page must be a path
        r = await c.get("/v1/popovers", params={"userId": "u", "page": ""})
        refused.append(("bad query", "GET", "/v1/popovers", r.status_code))
        # with the key, the same bodies get their own answers
        good = {"Authorization": "Basic dzo="} | json_type  # "w:"
        answers = [
            (await c.post("/v1/track", headers=good, content=body)).status_code
            for body in bodies.values()
        ]
    assert [x for x in refused if x[-1] != 401] == []
    assert answers == [400, 413]


def test_every_route_that_takes_a_body_checks_keys_first(settings: Settings) -> None:
    """FastAPI reads a declared body before it runs dependencies: only KeyFirstRoute checks the
    key before that, so every such route must be one (a new router included)."""
    from fastapi.routing import APIRoute

    from journeys.api.deps import KeyFirstRoute

    def routes(items: list[Any]) -> list[Any]:
        found = []
        for item in items:
            included = getattr(item, "original_router", None)  # FastAPI's included routers
            found += routes(included.routes) if included is not None else [item]
        return found

    app = create_app(settings, client=object())  # type: ignore[arg-type]
    every = [r for r in routes(app.routes) if isinstance(r, APIRoute)]
    with_body = [r for r in every if r.dependant.body_params]
    assert len(every) >= 50 and len(with_body) >= 5
    assert [r.path for r in with_body if not isinstance(r, KeyFirstRoute)] == []
    # and each checks a key of its own (a key added only where a router is included would not
    # be seen by KeyFirstRoute)
    for route in with_body:
        route.get_route_handler()
        assert route.key_checks, route.path
