"""Customer profiles, identities and orders."""

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import delete, func, update
from sqlmodel import Session, col, select

from journeys.store.db import insert_builder
from journeys.store.models import (
    Account,
    AccountMember,
    Customer,
    CustomerLife,
    Event,
    Identity,
    Order,
    StageEntry,
)
from journeys.store.segments import customer_memberships
from journeys.vocabulary.customer_types import StageChange
from journeys.vocabulary.journey_types import CustomerProfile


def resolve_anonymous(session: Session, *, anonymous_ids: list[str]) -> dict[str, str]:
    """Map each anonymousId already linked to an identified customer to that customer's id."""
    if not anonymous_ids:
        return {}
    rows = session.exec(select(Identity).where(col(Identity.anonymous_id).in_(anonymous_ids)))
    return {row.anonymous_id: row.customer_id for row in rows}


def link_identity(session: Session, *, anonymous_id: str, customer_id: str) -> bool:
    """Record that `anonymous_id` belongs to `customer_id`; True when the link is new."""
    if session.get(Identity, anonymous_id) is not None:
        return False
    session.add(
        Identity(anonymous_id=anonymous_id, customer_id=customer_id, linked_at=datetime.now(UTC))
    )
    session.flush()
    return True


def customer_profile(session: Session, *, customer_id: str) -> CustomerProfile:
    """What a branch or decide step reads of the customer: traits, segments and stage (the
    `customer_profile` activity, and a send whose next step is one of those)."""
    customer = session.get(Customer, customer_id)
    stays = customer_memberships(session, customer_id=customer_id)
    return CustomerProfile(
        traits=dict(customer.traits) if customer else {},
        segments=sorted({stay.segment for stay in stays}),
        stage=customer.stage if customer else None,
    )


def customer_traits(
    session: Session, *, customer_id: str, lock: bool = False
) -> dict[str, Any] | None:
    """The stored profile's traits; None when there is no such customer. `lock` holds the
    customer's row (PostgreSQL) until the transaction ends."""
    customer = session.get(Customer, customer_id, with_for_update=lock)
    return dict(customer.traits) if customer is not None else None


def profile(session: Session, *, customer_id: str) -> Customer:
    """The customer's profile row, made (empty) if there is none. Made with ON CONFLICT DO
    NOTHING: the customer's own store activity, a merge and the segment refresh may all make it
    at once."""
    customer = session.get(Customer, customer_id)
    if customer is None:
        now = datetime.now(UTC)
        row = {"customer_id": customer_id, "traits": {}, "created_at": now, "updated_at": now}
        session.execute(insert_builder(session)(Customer).values(row).on_conflict_do_nothing())
        customer = session.get(Customer, customer_id)
    assert customer is not None
    return customer


def upsert_traits(session: Session, *, customer_id: str, traits: dict[str, Any]) -> Customer:
    """Merge traits into the profile (later identify calls overwrite earlier values)."""
    now = datetime.now(UTC)
    customer = profile(session, customer_id=customer_id)
    customer.traits = {**customer.traits, **traits}
    customer.updated_at = now
    session.add(customer)
    return customer


def record_order(
    session: Session, *, order_id: str, customer_id: str, properties: dict[str, Any], at: datetime
) -> None:
    """Store an `Order Completed` once; a replayed activity finds it and does nothing."""
    if session.get(Order, order_id) is not None:
        return
    total = properties.get("total", properties.get("revenue", 0)) or 0
    session.add(
        Order(
            order_id=order_id,
            customer_id=customer_id,
            total=float(total),
            currency=str(properties.get("currency", "USD")),
            products=list(properties.get("products") or []),
            created_at=at,
        )
    )


MERGE_HOPS = 10  # alias chains followed at most this far


def merge_customers(session: Session, *, source_id: str, target_id: str) -> None:
    """Move the source's events, orders, identities and traits to the target (alias), and
    remember the source was merged: the API routes its later calls to the target."""
    source = profile(session, customer_id=source_id)  # known by events alone: a row all the
    if source.merged_into is None:  # same, so the merge is remembered
        target = session.get(Customer, target_id)
        traits = {**source.traits, **(target.traits if target else {})}
        upsert_traits(session, customer_id=target_id, traits=traits)
        source.merged_into = target_id
        session.add(source)
    for table in (Event, Order, Identity):
        session.execute(
            update(table).where(col(table.customer_id) == source_id).values(customer_id=target_id)
        )
    for membership in session.exec(
        select(AccountMember).where(AccountMember.customer_id == source_id)
    ).all():  # the target joins the source's groups (once)
        if session.get(AccountMember, (target_id, membership.group_id)) is None:
            session.add(AccountMember(customer_id=target_id, group_id=membership.group_id,
                                      joined_at=membership.joined_at))  # fmt: skip
        session.delete(membership)


def record_stage_entries(
    session: Session, *, customer_id: str, entries: list[StageChange], previous: str | None
) -> None:
    """Keep the stage history the customer's workflow reports (`previous`: the stage before
    the first entry) and its current stage; a retried call adds nothing. A customer has one
    first sighting, the earliest: a merge's joined history brings the anonymous visit's, and
    the identified customer's own later one goes. An entry written before a merge takes the
    stage before it in the joined history (`journeys inspect` and the funnel's moves read it),
    and one that repeats the stage before it there is no move and goes."""
    if not entries:
        return
    first = min((entry.at for entry in entries if entry.cause == "first_seen"), default=None)
    seen_before = False
    if first is not None:
        sightings = select(StageEntry.id).where(
            StageEntry.customer_id == customer_id, StageEntry.cause == "first_seen"
        )
        seen_before = session.exec(sightings.where(col(StageEntry.at) < first)).first() is not None
        if not seen_before:
            session.execute(
                delete(StageEntry).where(
                    col(StageEntry.customer_id) == customer_id,
                    col(StageEntry.cause) == "first_seen",
                    col(StageEntry.at) > first,
                )
            )
    since = min(entry.at for entry in entries)
    known = {  # one read for the batch, not one per entry
        (row.at, row.stage): row
        for row in session.exec(
            select(StageEntry).where(
                StageEntry.customer_id == customer_id, col(StageEntry.at) >= since
            )
        )
    }
    placed: set[tuple[datetime, str]] = set()  # this batch's, each once (a repeat is one entry)
    for entry in entries:
        key = (entry.at, entry.stage.value)
        later_sighting = entry.cause == "first_seen" and (seen_before or entry.at != first)
        before = None if entry.cause == "first_seen" else previous
        row = known.get(key)
        stayed = before == entry.stage.value  # in a joined history: already in this stage
        if later_sighting or key in placed:
            pass
        elif stayed:  # no move; a row the customer wrote before the merge goes
            if row is not None:
                session.delete(row)
        elif row is None:
            session.add(StageEntry(customer_id=customer_id, at=entry.at, stage=entry.stage.value,
                                   previous=before, cause=entry.cause))  # fmt: skip
        elif row.previous != before:  # a merge's joined history: the stage before it changed
            row.previous = before
            session.add(row)
        placed.add(key)
        previous = entry.stage.value
    record_stage(session, customer_id=customer_id, stage=entries[-1].stage.value)


def record_stage(session: Session, *, customer_id: str, stage: str) -> Customer:
    """Keep the stage the customer's workflow reported; makes the profile if there is none."""
    customer = profile(session, customer_id=customer_id)
    if customer.stage == stage:
        return customer
    customer.stage = stage
    session.add(customer)
    session.flush()
    return customer


def customer_epoch(session: Session, *, customer_id: str, lineage: str) -> int:
    """The number of the customer's life that `lineage` (its workflow's first run id) names:
    the one already given it (a retried activity, a later run of the same life), or the next."""
    known = session.exec(select(CustomerLife).where(CustomerLife.lineage == lineage)).first()
    if known is not None:
        return known.epoch
    last = session.exec(
        select(func.max(CustomerLife.epoch)).where(CustomerLife.customer_id == customer_id)
    ).one()
    epoch = (last or 0) + 1
    session.add(
        CustomerLife(
            customer_id=customer_id, epoch=epoch, lineage=lineage, started_at=datetime.now(UTC)
        )
    )
    session.flush()
    return epoch


def merged_survivors(session: Session) -> dict[str, str]:
    """Every customer merged into another -> the one it lives on in: reads over all customers
    (the console's paths and inflections) count a merged visitor's history as its survivor's."""
    merged = session.exec(
        select(Customer.customer_id).where(col(Customer.merged_into).is_not(None))
    ).all()
    return survivors(session, customer_ids=list(merged))


def merged_ids(session: Session, *, customer_id: str) -> list[str]:
    """The customer and every id merged into it (merges followed back as far as MERGE_HOPS):
    a merge moves events, orders and identities, but the anonymous visit's journey records,
    messages and decisions keep its id, so one customer's story reads them by all of these."""
    found, frontier = [customer_id], {customer_id}
    for _ in range(MERGE_HOPS):
        rows = session.exec(
            select(Customer.customer_id).where(col(Customer.merged_into).in_(frontier))
        ).all()
        frontier = set(rows) - set(found)
        if not frontier:
            break
        found.extend(sorted(frontier))
    return found


def survivors(session: Session, *, customer_ids: list[str]) -> dict[str, str]:
    """For each of `customer_ids` merged into another customer, the one it lives on in (merges
    followed to the end): the API sends their calls there for as long as the customer lives."""
    merged: dict[str, str] = {}  # every merge met: source -> target
    frontier = set(customer_ids)
    for _ in range(MERGE_HOPS):
        rows = session.exec(
            select(Customer.customer_id, Customer.merged_into).where(
                col(Customer.customer_id).in_(frontier), col(Customer.merged_into).is_not(None)
            )
        ).all()
        found = {source: target for source, target in rows if target and source not in merged}
        if not found:
            break
        merged.update(found)
        frontier = set(found.values())
    result = {}
    for customer_id in customer_ids:
        current = customer_id
        for _ in range(MERGE_HOPS):  # a cycle (A into B, later B into A) ends somewhere
            current = merged.get(current, current)
        if current != customer_id:
            result[customer_id] = current
    return result


def record_group(
    session: Session, *, customer_id: str, group_id: str, traits: dict[str, Any], at: datetime
) -> None:
    """A `group` call: the account's traits merged in (the latest value of each wins), and the
    customer a member (once)."""
    account = session.get(Account, group_id)
    if account is None:
        account = Account(group_id=group_id, traits={}, updated_at=at)
    if traits:
        account.traits, account.updated_at = {**account.traits, **traits}, at
    session.add(account)
    if session.get(AccountMember, (customer_id, group_id)) is None:
        session.add(AccountMember(customer_id=customer_id, group_id=group_id, joined_at=at))
    session.flush()


def customer_groups(session: Session, *, customer_id: str) -> list[Account]:
    """The accounts the customer is in, by group id."""
    query = (
        select(Account)
        .join(AccountMember, col(AccountMember.group_id) == col(Account.group_id))
        .where(AccountMember.customer_id == customer_id)
        .order_by(col(Account.group_id))
    )
    return list(session.exec(query))
