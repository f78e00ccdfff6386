"""Template endpoints: the loaded templates, and previews for a stored customer, behind the
admin key."""

import json
from collections.abc import AsyncIterator
from pathlib import Path
from urllib.parse import parse_qs, quote, urlsplit

import httpx
import pytest
import pytest_asyncio

from journeys.api.app import create_app
from journeys.channels import consent
from journeys.config.settings import Settings
from journeys.store.customers import upsert_traits
from journeys.store.db import session_scope

ADMIN = {"Authorization": "Bearer admin-secret"}
TEMPLATES = """
greeting:
  email:
    subject: "Hi {{ traits.first_name }}"
    text: "{{ properties.offer | default('') }}{% for p in products %} {{ p.name }}{% endfor %}
      Unsubscribe: {{ unsubscribe_url }}"
  sms:
    text: "Hi {{ traits.first_name }}, your code is {{ properties.code }}"
  popover:
    kind: welcome
    fields: {title: "Hi {{ traits.first_name | default('there') }}"}
"""


@pytest_asyncio.fixture
async def http(sqlite_url: str, tmp_path: Path) -> AsyncIterator[httpx.AsyncClient]:
    folder = tmp_path / "templates"
    folder.mkdir()
    (folder / "t.yaml").write_text(TEMPLATES)
    settings = Settings(
        database_url=sqlite_url, admin_key="admin-secret", signing_key="sign",
        public_url="https://shop.test", templates_dir=folder,
    )  # fmt: skip
    with session_scope(sqlite_url) as session:
        upsert_traits(session, customer_id="u1", traits={"first_name": "Ann"})
        upsert_traits(session, customer_id="u2", traits={"email": "bo@example.test"})
    app = create_app(settings, client=object())  # type: ignore[arg-type]
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://api") as c:
        yield c


def preview_url(customer: str, **query: object) -> str:
    params = "".join(
        f"&{k}={quote(v if isinstance(v, str) else json.dumps(v))}" for k, v in query.items()
    )
    return f"/v1/templates/greeting/preview?customerId={customer}{params}"


@pytest.mark.parametrize("path", ["/v1/templates", "/v1/templates/greeting/preview?customerId=u1"])
@pytest.mark.parametrize("headers", [{}, {"Authorization": "Bearer wrong"}])
async def test_template_endpoints_need_the_admin_key(
    http: httpx.AsyncClient, path: str, headers: dict[str, str]
) -> None:
    r = await http.get(path, headers=headers)
    assert r.status_code == 401 and r.headers["WWW-Authenticate"] == "Bearer"


async def test_the_templates_are_listed_with_their_channels(http: httpx.AsyncClient) -> None:
    r = await http.get("/v1/templates", headers=ADMIN)
    assert r.status_code == 200
    assert r.json() == [
        {"name": "greeting", "channels": ["email", "sms", "popover"], "topic": None}
    ]


async def test_a_preview_renders_the_customers_traits_and_the_samples(
    http: httpx.AsyncClient,
) -> None:
    url = preview_url(
        "u1", properties={"offer": "10% off", "code": "X1"}, products=[{"name": "Boots"}]
    )
    r = await http.get(url, headers=ADMIN)
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["template"] == "greeting" and body["customer_id"] == "u1"
    channels = body["channels"]
    assert list(channels) == ["email", "sms", "popover"]
    assert channels["email"]["subject"] == "Hi Ann"
    assert channels["email"]["text"].startswith("10% off Boots Unsubscribe: https://shop.test/")
    link = urlsplit(channels["email"]["text"].split("Unsubscribe: ")[1])
    query = {k: v[0] for k, v in parse_qs(link.query).items()}
    assert query["c"] == "u1" and query["ch"] == "email"
    consent.check("sign", "u1", "email", query["t"], expires=query["e"])  # as a send's link
    assert channels["sms"] == {"text": "Hi Ann, your code is X1"}
    assert channels["popover"]["fields"] == {"title": "Hi Ann"}

    only = await http.get(preview_url("u1", channel="email"), headers=ADMIN)
    assert only.status_code == 200 and list(only.json()["channels"]) == ["email"]


async def test_unknown_template_or_customer_is_404(http: httpx.AsyncClient) -> None:
    r = await http.get("/v1/templates/nope/preview?customerId=u1", headers=ADMIN)
    assert r.status_code == 404 and r.json()["error"] == "no template 'nope'"
    r = await http.get(preview_url("ghost"), headers=ADMIN)
    assert r.status_code == 404 and r.json()["error"] == "no customer 'ghost'"
    assert r.json()["errors"][0]["field"] == "customerId"


@pytest.mark.parametrize(
    ("url", "field"),
    [
        ("/v1/templates/greeting/preview", "customerId"),
        (preview_url("u1", channel="push"), "channel"),
        (preview_url("u1", properties="{not json"), "properties"),
        (preview_url("u1", properties=[1, 2]), "properties"),
        (preview_url("u1", products={"name": "Boots"}), "products"),
    ],
)
async def test_bad_input_is_400_naming_the_field(
    http: httpx.AsyncClient, url: str, field: str
) -> None:
    r = await http.get(url, headers=ADMIN)
    assert r.status_code == 400, r.text
    assert [e["field"] for e in r.json()["errors"]] == [field]


async def test_a_template_that_does_not_render_for_the_customer_is_a_clear_422(
    http: httpx.AsyncClient,
) -> None:
    r = await http.get(preview_url("u2"), headers=ADMIN)  # no first_name, no sample code
    assert r.status_code == 422, r.text
    body = r.json()
    assert body["error"] == "template 'greeting' does not render for customer 'u2'"
    assert body["errors"] == [
        {"field": "email.subject", "reason": "'dict object' has no attribute 'first_name'"},
        {"field": "sms.text", "reason": "'dict object' has no attribute 'first_name'"},
    ]
    popover = await http.get(preview_url("u2", channel="popover"), headers=ADMIN)
    assert popover.json()["channels"]["popover"]["fields"] == {"title": "Hi there"}
