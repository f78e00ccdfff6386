"""Bad input at scale: every operation of the OpenAPI document (schemathesis) and hostile Segment
payloads (hypothesis) against a real `journeys api` process on the dev server.

Never a 5xx; every refusal a 4xx that says why (a 400 names each field); and a refused call
writes nothing — the store's every row and the server's count of workflows are the same before
and after it. No worker runs, so nothing but the API changes either.

`pytest tests/api/test_fuzz.py --fuzz-examples 500` runs longer (default 10 examples per
operation and payload kind, which keeps CI quick).
"""

import hashlib
import json
import sqlite3
import subprocess
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
import schemathesis
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from temporalio.testing import WorkflowEnvironment

from journeys.devserver import find_binary
from tests.helpers.api import basic
from tests.helpers.api_process import api_process

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

WRITE_KEY, ADMIN_KEY = "fuzz-write", "fuzz-admin"


class LiveApi:
    """`journeys api` on a free port, its SQLite store, and the dev server's address."""

    def __init__(self, url: str, database: Path, address: str, task_queue: str) -> None:
        self.url, self.database, self.address, self.task_queue = url, database, address, task_queue

    def store_digest(self) -> str:
        """Every row of every table, hashed: equal digests mean nothing was written."""
        digest = hashlib.sha256()
        with sqlite3.connect(f"file:{self.database}?mode=ro", uri=True) as db:
            tables = [r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type='table'")]
            for table in sorted(tables):
                digest.update(table.encode())
                for row in db.execute(f'SELECT * FROM "{table}" ORDER BY rowid'):
                    digest.update(repr(row).encode())
        return digest.hexdigest()

    def workflows(self) -> int:
        """Workflows on this API's task queue (any refused call that started one shows here)."""
        done = subprocess.run(
            [find_binary("temporal"), "workflow", "count", "--address", self.address,
             "--query", f'TaskQueue="{self.task_queue}"', "-o", "json"],
            capture_output=True, text=True, timeout=30, check=True,
        )  # fmt: skip
        return int(json.loads(done.stdout).get("count", 0))  # proto3 leaves out a zero


@pytest.fixture(scope="module")
def live_api(
    dev_env: WorkflowEnvironment, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[LiveApi]:
    tmp = tmp_path_factory.mktemp("fuzz")
    address = dev_env.client.service_client.config.target_host
    task_queue = f"fuzz-{uuid.uuid4().hex[:8]}"
    settings = {
        "JOURNEYS_TEMPORAL_ADDRESS": address,
        "JOURNEYS_DATABASE_URL": f"sqlite:///{tmp / 'journeys.db'}",
        "JOURNEYS_WRITE_KEYS": WRITE_KEY,
        "JOURNEYS_ADMIN_KEY": ADMIN_KEY,
        "JOURNEYS_TASK_QUEUE": task_queue,
    }
    with api_process(settings, tmp / "api.log") as url:
        yield LiveApi(url, tmp / "journeys.db", address, task_queue)


def explains_itself(response: httpx.Response | Any) -> str | None:
    """Why a 4xx does not say why, or None: a JSON `error`, and for a 400 every field named."""
    try:
        body = response.json()
    except ValueError:
        return f"{response.status_code} without a JSON body: {response.text[:200]!r}"
    if not isinstance(body, dict) or not body.get("error"):
        return f"{response.status_code} without an `error`: {body!r:.200}"
    if response.status_code == 400:
        errors = body.get("errors") or []
        if not errors or not all(e.get("field") and e.get("reason") for e in errors):
            return f"400 that does not name each field: {body!r:.300}"
    return None


# --------------------------------------------------------------------------------------------
# every operation of the OpenAPI document


def _operations() -> list[Any]:
    """Every operation of the API's OpenAPI document (read from the app, no server needed)."""
    from journeys.api.app import create_app
    from journeys.config.settings import Settings

    app = create_app(Settings(database_url="sqlite://"), client=object())  # type: ignore[arg-type]
    document = schemathesis.openapi.from_dict(app.openapi())
    return [result.ok() for result in document.get_all_operations()]


OPERATIONS = _operations()
TRACKING = ("/v1/identify", "/v1/track", "/v1/page", "/v1/screen", "/v1/group", "/v1/alias",
            "/v1/batch", "/v1/import", "/v1/popovers", "/v1/recommendations")  # fmt: skip


@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE],
                         ids=["valid", "invalid"])  # fmt: skip
@pytest.mark.parametrize("operation", OPERATIONS, ids=[o.label for o in OPERATIONS])
def test_no_operation_answers_5xx_or_refuses_without_saying_why(
    operation: Any, mode: GenerationMode, live_api: LiveApi
) -> None:
    path = operation.path
    headers = (
        basic(WRITE_KEY) if path.startswith(TRACKING) else {"Authorization": f"Bearer {ADMIN_KEY}"}
    )

    @given(case=operation.as_strategy(mode))
    def one_case(case: Any) -> None:
        before = live_api.store_digest()
        response = case.call(base_url=live_api.url, headers=headers, timeout=30)
        where = (case.method, case.formatted_path, case.query, f"{case.body!r:.300}")
        assert response.status_code < 500, (*where, response.status_code, response.text[:500])
        if 400 <= response.status_code < 500:
            problem = explains_itself(response)
            assert problem is None, (*where, problem)
            if case.method in ("POST", "PUT", "PATCH", "DELETE"):
                assert live_api.store_digest() == before, (*where, "a refused call wrote rows")

    try:
        one_case()
    except Unsatisfiable:
        if mode is GenerationMode.NEGATIVE:
            pytest.skip("nothing in this operation can be made invalid")
        raise


# --------------------------------------------------------------------------------------------
# hostile Segment payloads

JSON_LEAF = st.one_of(
    st.none(), st.booleans(), st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=False, allow_infinity=False), st.text(max_size=40),
)  # fmt: skip
JSON_VALUE = st.recursive(
    JSON_LEAF,
    lambda inner: st.one_of(st.lists(inner, max_size=5),
                            st.dictionaries(st.text(max_size=12), inner, max_size=5)),
    max_leaves=30,
)  # fmt: skip
HOSTILE_TEXT = st.one_of(
    st.text(max_size=40),
    st.text(alphabet=st.characters(codec="utf-8"), max_size=300),  # control characters too
    st.sampled_from(["", " ", "\x00", "anon-x", "~x", "ü" * 300, "a" * 256, "../../etc"]),
)
TIMESTAMP = st.one_of(
    st.datetimes(min_value=datetime(1, 1, 1), max_value=datetime(9999, 12, 31),
                 timezones=st.sampled_from([UTC, None])).map(lambda d: d.isoformat()),
    st.sampled_from(["not a date", "2026-13-45T99:00:00Z", "", "9999-12-31T23:59:59Z"]),
    st.integers(), st.floats(allow_nan=False),
)  # fmt: skip
CALL_TYPES = ("identify", "track", "page", "screen", "group", "alias")


@st.composite
def segment_call(draw: st.DrawFn, user: str) -> dict[str, Any]:
    """A Segment call, each field right, wrong in type, hostile in content, or missing."""
    call: dict[str, Any] = {
        "userId": draw(st.one_of(st.just(user), HOSTILE_TEXT, st.integers(), st.booleans(),
                                 st.none(), st.lists(st.integers(), max_size=2))),
        "messageId": draw(st.one_of(st.just(f"m-{uuid.uuid4().hex}"), HOSTILE_TEXT, st.none())),
    }  # fmt: skip
    optional = {
        "type": st.sampled_from(CALL_TYPES),
        "anonymousId": HOSTILE_TEXT,
        "event": st.one_of(HOSTILE_TEXT, st.integers()),
        "name": HOSTILE_TEXT,
        "timestamp": TIMESTAMP,
        "originalTimestamp": TIMESTAMP,
        "sentAt": TIMESTAMP,
        "properties": st.one_of(
            st.dictionaries(st.text(max_size=20), JSON_VALUE, max_size=8),
            st.dictionaries(st.text(max_size=8), st.integers(), min_size=500, max_size=1500),
            JSON_VALUE,
        ),
        "traits": st.one_of(st.dictionaries(st.text(max_size=20), JSON_VALUE, max_size=8),
                            JSON_VALUE),
        "context": JSON_VALUE,
        "groupId": HOSTILE_TEXT,
        "previousId": st.one_of(st.just(user), HOSTILE_TEXT),
    }  # fmt: skip
    for key, strategy in optional.items():
        if draw(st.booleans()):
            call[key] = draw(strategy)
    return call


@pytest.fixture(scope="module")
def segment(live_api: LiveApi) -> Iterator[httpx.Client]:
    auth = basic(WRITE_KEY)
    with httpx.Client(base_url=live_api.url, headers=auth, timeout=30) as client:
        yield client


def _post_and_check(live_api: LiveApi, segment: httpx.Client, path: str, body: Any) -> None:
    before, workflows = live_api.store_digest(), live_api.workflows()
    response = segment.post(path, content=json.dumps(body).encode(),
                            headers={"Content-Type": "application/json"})  # fmt: skip
    assert response.status_code < 500, (path, body, response.status_code, response.text)
    if response.status_code >= 400:
        assert explains_itself(response) is None, (path, explains_itself(response))
        assert live_api.store_digest() == before, f"refused {path} wrote rows: {body!r:.500}"
        assert live_api.workflows() == workflows, f"refused {path} started a workflow"


def test_hostile_segment_calls_are_refused_cleanly_or_accepted(
    live_api: LiveApi, segment: httpx.Client
) -> None:
    user = f"fuzz-{uuid.uuid4().hex[:6]}"

    @given(call_type=st.sampled_from(CALL_TYPES), call=segment_call(user))
    def one_call(call_type: str, call: dict[str, Any]) -> None:
        _post_and_check(live_api, segment, f"/v1/{call_type}", call)

    one_call()


def test_hostile_batches_are_refused_cleanly_or_accepted(
    live_api: LiveApi, segment: httpx.Client
) -> None:
    """Batches mixing good and bad calls, and the same messageId twice within one."""
    user = f"fuzz-{uuid.uuid4().hex[:6]}"

    @given(calls=st.lists(segment_call(user), max_size=6), repeat=st.booleans())
    def one_batch(calls: list[dict[str, Any]], repeat: bool) -> None:
        if repeat and calls:
            calls = [*calls, dict(calls[0])]  # a duplicate messageId within the batch
        _post_and_check(live_api, segment, "/v1/batch", {"batch": calls})

    one_batch()


@pytest.mark.parametrize(
    ("label", "raw"),
    [
        ("deep JSON", b'{"type": "track", "properties": ' + b'{"a": ' * 5000 + b"1" + b"}" * 5001),
        ("deep array", b'{"batch": ' + b"[" * 20000 + b"]" * 20000 + b"}"),
        ("not UTF-8", b'{"userId": "\xff\xfe", "event": "x"}'),
        ("NaN", b'{"userId": "u", "event": "x", "properties": {"v": NaN}}'),
        ("huge number", b'{"userId": "u", "event": "x", "properties": {"v": 1e99999}}'),
        (
            "huge integer",
            b'{"userId": "u", "event": "x", "properties": {"v": ' + b"9" * 5000 + b"}}",
        ),
        ("a list", b'[{"userId": "u", "event": "x"}]'),
        ("lone surrogate", b'{"userId": "\\ud800", "event": "x"}'),
        ("NUL in the event", b'{"userId": "u", "event": "a\\u0000b"}'),
    ],  # fmt: skip
)
def test_malformed_bodies_get_a_clear_4xx_and_write_nothing(
    live_api: LiveApi, segment: httpx.Client, label: str, raw: bytes
) -> None:
    admin = {"Authorization": f"Bearer {ADMIN_KEY}", "Content-Type": "application/json"}
    targets = [("/v1/track", {}), ("/v1/batch", {}), ("/v1/segments/fuzzed", admin),
               ("/v1/journeys", admin)]  # fmt: skip
    for path, headers in targets:
        before, workflows = live_api.store_digest(), live_api.workflows()
        method = "PUT" if path.startswith("/v1/segments") else "POST"
        response = segment.request(
            method, path, content=raw, headers={"Content-Type": "application/json", **headers}
        )
        assert response.status_code < 500, (label, path, response.status_code, response.text)
        assert response.status_code >= 400, (label, path, response.text)
        if response.status_code >= 400:
            assert explains_itself(response) is None, (label, explains_itself(response))
            assert live_api.store_digest() == before, (label, path)
            assert live_api.workflows() == workflows, (label, path)


@pytest.mark.parametrize(
    "path", ["/v1/reports/journeys", "/v1/journeys/welcome", "/v1/journeys/welcome/experiments"]
)
def test_a_version_beyond_what_the_store_keeps_is_400(live_api: LiveApi, path: str) -> None:
    """Found by the fuzzer in CI: a 20-digit version overflowed SQLite's INTEGER (500)."""
    response = httpx.get(f"{live_api.url}{path}", params={"version": "9" * 20},
                         headers={"Authorization": f"Bearer {ADMIN_KEY}"})  # fmt: skip
    assert response.status_code == 400, response.text
    assert response.json()["errors"][0]["field"] == "version"
