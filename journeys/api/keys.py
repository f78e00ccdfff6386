"""Key management (admin key): make a write or admin key (shown once, stored as a digest), list
them without secrets, revoke one. Rotation is: make the new key, move clients to it, revoke
the old one."""

import asyncio
from typing import Any, Literal

from fastapi import APIRouter, Depends
from pydantic import BaseModel, Field

from journeys.api.auth import admin_guard
from journeys.api.errors import ApiError
from journeys.config.settings import Settings
from journeys.store.db import session_scope
from journeys.store.keys import create_key, list_keys, revoke_key


class NewKey(BaseModel):
    kind: Literal["write", "admin"]
    name: str = Field(min_length=1, max_length=100)


def keys_router(settings: Settings) -> APIRouter:
    router = APIRouter(prefix="/v1/keys", dependencies=[Depends(admin_guard(settings))],
                       tags=["keys"])  # fmt: skip
    url = settings.database_url

    @router.post("", status_code=201, summary="make a key (its value is shown only now)")
    async def create(body: NewKey) -> dict[str, Any]:
        def write() -> dict[str, Any]:
            with session_scope(url) as session:
                row, key = create_key(session, kind=body.kind, name=body.name)
                return {**row.model_dump(mode="json", exclude={"digest"}), "key": key}

        return await asyncio.to_thread(write)

    @router.get("", summary="every key, without secrets")
    async def listing() -> list[dict[str, Any]]:
        def read() -> list[dict[str, Any]]:
            with session_scope(url) as session:
                return [r.model_dump(mode="json", exclude={"digest"}) for r in list_keys(session)]

        return await asyncio.to_thread(read)

    @router.delete("/{key_id}", summary="revoke a key (every API refuses it within seconds)")
    async def revoke(key_id: str) -> dict[str, Any]:
        def write() -> dict[str, Any] | None:
            with session_scope(url) as session:
                row = revoke_key(session, key_id=key_id)
                return row.model_dump(mode="json", exclude={"digest"}) if row else None

        found = await asyncio.to_thread(write)
        if found is None:
            raise ApiError(404, f"no key {key_id!r}")
        return found

    return router
