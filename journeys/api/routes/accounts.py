"""Accounts (admin key): what Segment `group` calls said of a group and who is in it."""

from typing import Any

from fastapi import APIRouter, Depends
from sqlmodel import Session, select

from journeys.api.deps import KeyFirstRoute, StoreDep, require_admin
from journeys.api.errors import ApiError
from journeys.store.customers import customer_groups
from journeys.store.models import Account, AccountMember

router = APIRouter(
    route_class=KeyFirstRoute,
    prefix="/v1",
    dependencies=[Depends(require_admin)],
    tags=["accounts"],
)


@router.get("/customers/{customer_id}/groups", summary="the groups a customer is in")
async def groups_of(customer_id: str, store: StoreDep) -> dict[str, Any]:
    def read(session: Session) -> list[dict[str, Any]]:
        return [_account(a) for a in customer_groups(session, customer_id=customer_id)]

    return {"customer_id": customer_id, "groups": await store.run(read)}


@router.get("/groups/{group_id}", summary="a group's traits and members")
async def group(group_id: str, store: StoreDep) -> dict[str, Any]:
    def read(session: Session) -> dict[str, Any] | None:
        account = session.get(Account, group_id)
        if account is None:
            return None
        members = session.exec(
            select(AccountMember.customer_id).where(AccountMember.group_id == group_id)
        )
        return {**_account(account), "members": sorted(members)}

    found = await store.run(read)
    if found is None:
        raise ApiError(404, f"no group {group_id!r}")
    return found


def _account(account: Account) -> dict[str, Any]:
    return {"group_id": account.group_id, "traits": account.traits,
            "updated_at": account.updated_at.isoformat()}  # fmt: skip
