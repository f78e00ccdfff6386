"""API keys (admin key): make a write or admin key (shown once, stored as a digest), list
them without secrets, revoke one. Rotation is: make the new key, move clients to it, revoke
the old one."""

from typing import Any, Literal

from fastapi import APIRouter, Depends
from pydantic import BaseModel, Field
from sqlmodel import Session

from journeys.api.deps import KeyFirstRoute, StoreDep, require_admin
from journeys.api.errors import ApiError
from journeys.store.keys import create_key, list_keys, revoke_key

router = APIRouter(
    route_class=KeyFirstRoute,
    prefix="/v1/keys",
    dependencies=[Depends(require_admin)],
    tags=["keys"],
)


class NewKey(BaseModel):
    kind: Literal["write", "admin"]
    name: str = Field(min_length=1, max_length=100)


@router.post("", status_code=201, summary="make a key (its value is shown only now)")
async def create(body: NewKey, store: StoreDep) -> dict[str, Any]:
    def write(session: Session) -> dict[str, Any]:
        row, key = create_key(session, kind=body.kind, name=body.name)
        return {**row.model_dump(mode="json", exclude={"digest"}), "key": key}

    return await store.run(write)


@router.get("", summary="every key, without secrets")
async def listing(store: StoreDep) -> list[dict[str, Any]]:
    return await store.run(
        lambda s: [r.model_dump(mode="json", exclude={"digest"}) for r in list_keys(s)]
    )


@router.delete("/{key_id}", summary="revoke a key (every API refuses it within seconds)")
async def revoke(key_id: str, store: StoreDep) -> dict[str, Any]:
    def write(session: Session) -> dict[str, Any] | None:
        row = revoke_key(session, key_id=key_id)
        return row.model_dump(mode="json", exclude={"digest"}) if row else None

    found = await store.run(write)
    if found is None:
        raise ApiError(404, f"no key {key_id!r}")
    return found
