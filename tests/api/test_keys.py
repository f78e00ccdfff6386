"""Keys made through the API are stored as digests, work at once, and stop working when revoked
(rotation: make a new one, move clients, revoke the old); the CLI does the same on the store."""

import os
import subprocess
import sys
from pathlib import Path

import httpx
import pytest
from sqlmodel import select

from journeys.api import auth
from journeys.api.app import create_app
from journeys.config.settings import Settings
from journeys.store.db import session_scope
from journeys.store.models import ApiKey

ADMIN = {"Authorization": "Bearer boot-admin"}


@pytest.fixture
def settings(sqlite_url: str, monkeypatch: pytest.MonkeyPatch) -> Settings:
    monkeypatch.setattr(auth, "STORED_KEYS_TTL", 0.0)  # see revocations at once in the test
    return Settings(database_url=sqlite_url, admin_key="boot-admin", write_keys=[])


async def test_made_keys_work_are_never_stored_and_revoke(settings: Settings) -> None:
    app = create_app(settings, client=object())  # type: ignore[arg-type]
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://a") as c:
        r = await c.post("/v1/keys", json={"kind": "admin", "name": "ops"}, headers=ADMIN)
        assert r.status_code == 201
        made = r.json()
        mine = {"Authorization": f"Bearer {made['key']}"}
        assert (await c.get("/v1/journeys", headers=mine)).status_code == 200
        r = await c.post("/v1/keys", json={"kind": "write", "name": "web"}, headers=mine)
        write_key = r.json()["key"]
        # a write key opens the popovers (a website's call), never a management route
        popovers = f"/v1/popovers?userId=u1&writeKey={write_key}"
        assert (await c.get(popovers)).status_code == 200
        refused = {"Authorization": f"Bearer {write_key}"}
        assert (await c.get("/v1/journeys", headers=refused)).status_code == 401
        listed = (await c.get("/v1/keys", headers=ADMIN)).json()
        assert {k["name"] for k in listed} == {"ops", "web"}
        assert all("key" not in k and "digest" not in k for k in listed)
        assert (await c.delete(f"/v1/keys/{made['key_id']}", headers=ADMIN)).status_code == 200
        assert (await c.get("/v1/journeys", headers=mine)).status_code == 401
        assert (await c.delete("/v1/keys/nothing", headers=ADMIN)).status_code == 404
        bad = await c.post("/v1/keys", json={"kind": "root", "name": "x"}, headers=ADMIN)
        assert bad.status_code == 400 and bad.json()["errors"][0]["field"] == "kind"
    with session_scope(settings.database_url) as session:
        digests = [row.digest for row in session.exec(select(ApiKey)).all()]
    assert made["key"] not in str(digests) and write_key not in str(digests)


@pytest.mark.slow
def test_the_cli_makes_lists_and_revokes_keys(settings: Settings) -> None:
    cli = Path(sys.executable).with_name("journeys")
    env = {**os.environ, "JOURNEYS_DATABASE_URL": settings.database_url}

    def journeys(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([str(cli), *args], capture_output=True, text=True, env=env,
                              timeout=60)  # fmt: skip

    made = journeys("keys", "create", "--kind", "write", "--name", "shop")
    assert made.returncode == 0 and "wk_" in made.stdout
    key_id = made.stdout.split()[2]
    assert f"{key_id}  write  shop  active" in journeys("keys", "list").stdout
    assert journeys("keys", "revoke", key_id).returncode == 0
    assert "revoked" in journeys("keys", "list").stdout
    missing = journeys("keys", "revoke", "nothing")
    assert missing.returncode == 1 and "no key 'nothing'" in missing.stderr
    codec = journeys("codec-server")
    assert codec.returncode == 1 and "JOURNEYS_PAYLOAD_KEY is not set" in codec.stderr
