"""Segments in the store: definitions, membership with its history, RFM thresholds, and the
rows the two evaluation paths read (segments/ builds the queries; this module runs them)."""

import hashlib
import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal

from sqlalchemy import and_, exists, func, literal, or_, update
from sqlmodel import Session, col, select

from journeys.segments.definition import SegmentDefinition
from journeys.segments.evaluate import CustomerFacts
from journeys.segments.rfm import RfmThresholds, compute_thresholds
from journeys.store.catalog import bump_catalog
from journeys.store.db import insert_builder
from journeys.store.models import (
    Customer,
    Event,
    Order,
    RfmThresholdsRow,
    Segment,
    SegmentMembership,
)
from journeys.store.segment_sql import members_query

SegmentStatus = Literal["active", "archived"]
STATUSES: tuple[SegmentStatus, ...] = ("active", "archived")
_CHUNK = 500  # ids per IN (...) list


class SegmentError(Exception):
    pass


class NotFound(SegmentError):
    pass


@dataclass(frozen=True)
class SaveResult:
    name: str
    version: int
    created: bool
    changed: bool


@dataclass(frozen=True)
class Change:
    """One entry or exit as stored: the customer's workflow hears of it as an event, unless it
    is `superseded`: the customer's membership of the segment changed again later (the other
    evaluation path did it, and told the workflow already or will), so telling of this older
    change now would make it the last word when it is not."""

    segment: str
    customer_id: str
    change: Literal["entered", "exited"]
    at: datetime
    superseded: bool = False


def spec_document(definition: SegmentDefinition) -> dict[str, Any]:
    return definition.model_dump(mode="json", by_alias=True, exclude_none=True)


def _hash(document: dict[str, Any]) -> str:
    return hashlib.sha256(json.dumps(document, sort_keys=True).encode()).hexdigest()


def save_segment(session: Session, *, definition: SegmentDefinition) -> SaveResult:
    """Save (and activate) a definition; the version goes up only when its content changed."""
    document = spec_document(definition)
    digest = _hash(document)
    now = datetime.now(UTC)
    row = session.get(Segment, definition.name, with_for_update=True)
    if row is None:
        row = Segment(name=definition.name, spec=document, content_hash=digest,
                      created_at=now, updated_at=now)  # fmt: skip
        session.add(row)
        bump_catalog(session)
        return SaveResult(definition.name, 1, created=True, changed=True)
    changed = row.content_hash != digest or row.status != "active"
    if changed:
        if row.content_hash != digest:
            row.version += 1
        row.spec, row.content_hash, row.status, row.updated_at = document, digest, "active", now
        session.add(row)
        bump_catalog(session)
    return SaveResult(definition.name, row.version, created=False, changed=changed)


def set_segment_status(session: Session, *, name: str, status: SegmentStatus) -> Segment:
    if status not in STATUSES:
        raise SegmentError(f"unknown status {status!r}; use one of {', '.join(STATUSES)}")
    row = session.get(Segment, name, with_for_update=True)
    if row is None:
        raise NotFound(f"no segment {name!r}")
    if row.status != status:
        row.status, row.updated_at = status, datetime.now(UTC)
        session.add(row)
        bump_catalog(session)
    return row


def list_segments(session: Session) -> list[Segment]:
    return list(session.exec(select(Segment).order_by(col(Segment.name))))


def get_segment(session: Session, *, name: str) -> Segment | None:
    return session.get(Segment, name)


# Parsed definitions by content hash: a customer's evaluation reads every active segment, and
# parsing them was a tenth of its store activity's CPU. A definition is immutable (frozen), and
# the hash changes with the content (`save_segment`), so an entry never goes stale.
_PARSED: dict[str, SegmentDefinition] = {}
_PARSED_MAX = 1024


def definition_of(row: Segment) -> SegmentDefinition:
    parsed = _PARSED.get(row.content_hash)
    if parsed is None:
        parsed = SegmentDefinition.model_validate(row.spec)
        if len(_PARSED) >= _PARSED_MAX:
            _PARSED.clear()
        _PARSED[row.content_hash] = parsed
    return parsed


def active_definitions(session: Session) -> list[SegmentDefinition]:
    rows = session.exec(
        select(Segment).where(Segment.status == "active").order_by(col(Segment.name))
    )
    return [definition_of(row) for row in rows]


def active_segment_count(session: Session) -> int:
    """What the journey catalog tells customers: 0 means they have nothing to evaluate."""
    return int(session.exec(select(func.count()).where(Segment.status == "active")).one())


# -- membership ---------------------------------------------------------------------------


def members(
    session: Session, *, segment: str, limit: int = 1000, after: str | None = None
) -> list[SegmentMembership]:
    """The customers in the segment now, by customer id (page with `after`: the last id)."""
    query = select(SegmentMembership).where(
        SegmentMembership.segment == segment, col(SegmentMembership.exited_at).is_(None)
    )
    if after is not None:
        query = query.where(col(SegmentMembership.customer_id) > after)
    return list(session.exec(query.order_by(col(SegmentMembership.customer_id)).limit(limit)))


def member_ids(session: Session, *, segment: str) -> set[str]:
    query = select(SegmentMembership.customer_id).where(
        SegmentMembership.segment == segment, col(SegmentMembership.exited_at).is_(None)
    )
    return set(session.exec(query))


def open_segments(session: Session) -> set[str]:
    """Segments with at least one member (archived ones included, until they are emptied)."""
    query = select(SegmentMembership.segment).where(col(SegmentMembership.exited_at).is_(None))
    return set(session.exec(query.distinct()))


def customer_memberships(
    session: Session, *, customer_id: str, history: bool = False
) -> list[SegmentMembership]:
    """The customer's stays in segments: open ones, or every one with `history`."""
    query = select(SegmentMembership).where(SegmentMembership.customer_id == customer_id)
    if not history:
        query = query.where(col(SegmentMembership.exited_at).is_(None))
    return list(
        session.exec(
            query.order_by(col(SegmentMembership.entered_at), col(SegmentMembership.segment))
        )
    )


def apply_membership(
    session: Session,
    *,
    segment: str,
    entered: Iterable[str],
    exited: Iterable[str],
    at: datetime,
) -> list[Change]:
    """Open a stay for each `entered` customer not in the segment, close the open stay of each
    `exited` one, all at `at`; returns the changes that took effect. Another writer that got
    there first (the batch and a customer's own evaluation) wins, and its change is not
    repeated: inserts skip an existing open stay (the partial unique index), updates skip a
    closed one.

    Nor is a change made where the customer's membership of the segment already changed at
    `at` or later: an evaluation as of an earlier instant does not undo a later one's verdict,
    and one instant makes at most one entry and one exit per customer. A second entry at `at`
    (a refresh retried after the customer's own evaluation closed the stay the first attempt
    opened) would carry the first one's message id, and the workflow would drop it as a
    duplicate."""
    changes: list[Change] = []
    table = SegmentMembership.__table__  # type: ignore[attr-defined]
    when = literal(at, table.c.entered_at.type)
    builder = insert_builder(session)
    joining = sorted(set(entered))
    for start in range(0, len(joining), _CHUNK):
        chunk = joining[start : start + _CHUNK]
        changed_since = select(table.c.customer_id).where(
            table.c.segment == segment,
            table.c.customer_id.in_(chunk),
            or_(table.c.entered_at >= when, table.c.exited_at > when),
        )
        skip = set(session.execute(changed_since).scalars())
        rows = [{"segment": segment, "customer_id": c, "entered_at": at}
                for c in chunk if c not in skip]  # fmt: skip
        if not rows:
            continue
        statement = (
            builder(table).values(rows).on_conflict_do_nothing().returning(table.c.customer_id)
        )
        for (customer_id,) in session.execute(statement):
            changes.append(Change(segment, customer_id, "entered", at))
    leaving = sorted(set(exited))
    other = table.alias("other_stay")
    exited_since = exists().where(
        other.c.segment == table.c.segment,
        other.c.customer_id == table.c.customer_id,
        other.c.exited_at >= when,
    )
    for start in range(0, len(leaving), _CHUNK):
        closing = (
            update(table)
            .where(
                table.c.segment == segment,
                table.c.customer_id.in_(leaving[start : start + _CHUNK]),
                table.c.exited_at.is_(None),
                table.c.entered_at <= when,
                ~exited_since,
            )
            .values(exited_at=at)
            .returning(table.c.customer_id)
        )
        for (customer_id,) in session.execute(closing):
            changes.append(Change(segment, customer_id, "exited", at))
    return changes


def changes_at(session: Session, *, at: datetime, customer_id: str | None = None) -> list[Change]:
    """Every entry and exit stamped `at` (for one customer, or all): what an evaluation at `at`
    changed, found again by a retry that finds nothing left to change. Each says whether a
    later change of the customer's membership of that segment has `superseded` it."""
    table = SegmentMembership.__table__  # type: ignore[attr-defined]
    when = literal(at, table.c.entered_at.type)
    filters = [or_(table.c.entered_at == when, table.c.exited_at == when)]
    if customer_id is not None:
        filters.append(table.c.customer_id == customer_id)
    later = table.alias("later_stay")
    superseded = exists().where(
        later.c.segment == table.c.segment,
        later.c.customer_id == table.c.customer_id,
        or_(later.c.entered_at > when, later.c.exited_at > when),
    )
    query = select(
        table.c.segment, table.c.customer_id, table.c.entered_at, table.c.exited_at
    ).add_columns(superseded.label("superseded"))
    changes = []
    rows = session.execute(query.where(*filters))
    for segment, customer, entered_at, exited_at, stale in rows:
        if exited_at == at:
            changes.append(Change(segment, customer, "exited", at, bool(stale)))
        if entered_at == at:
            changes.append(Change(segment, customer, "entered", at, bool(stale)))
    changes.sort(key=lambda c: (c.customer_id, c.change != "exited", c.segment))
    return changes


# -- what evaluation reads ------------------------------------------------------------------


def batch_members(
    session: Session,
    *,
    definition: SegmentDefinition,
    as_of: datetime,
    thresholds: RfmThresholds | None,
) -> set[str]:
    """The segment's members at `as_of` by its one SQL query."""
    query = members_query(definition, as_of=as_of, thresholds=thresholds)
    return set(session.execute(query).scalars())


def add_missing_customers(session: Session) -> int:
    """Profiles for customers known only by their events (no identify yet, no evaluation),
    so the batch query, which reads profiles, sees them."""
    customer, event = Customer.__table__, Event.__table__  # type: ignore[attr-defined]
    now = datetime.now(UTC)
    ids = (
        select(event.c.customer_id)
        .where(~exists().where(customer.c.customer_id == event.c.customer_id))
        .distinct()
    )
    missing = list(session.execute(ids).scalars())
    builder = insert_builder(session)
    for start in range(0, len(missing), _CHUNK):
        session.execute(  # a customer's own activity may make its profile meanwhile: fine
            builder(customer).on_conflict_do_nothing(),
            [{"customer_id": c, "traits": {}, "created_at": now, "updated_at": now}
             for c in missing[start : start + _CHUNK]],
        )  # fmt: skip
    return len(missing)


def customer_facts(
    session: Session, *, customer_id: str, events_since: datetime | None, as_of: datetime
) -> CustomerFacts | None:
    """The customer's rows evaluation reads (None: no profile, or merged into another)."""
    customer = session.get(Customer, customer_id)
    if customer is None or customer.merged_into is not None:
        return None
    event, order = Event.__table__, Order.__table__  # type: ignore[attr-defined]
    events_query = select(event.c.type, event.c.event, event.c.timestamp).where(
        event.c.customer_id == customer_id,
        event.c.timestamp <= literal(as_of, event.c.timestamp.type),
    )
    if events_since is not None:
        events_query = events_query.where(
            event.c.timestamp > literal(events_since, event.c.timestamp.type)
        )
    orders_query = select(order.c.total, order.c.created_at).where(
        order.c.customer_id == customer_id
    )
    return CustomerFacts(
        customer_id=customer_id,
        traits=dict(customer.traits or {}),
        stage=customer.stage,
        events=[tuple(row) for row in session.execute(events_query)],  # type: ignore[misc]
        orders=[tuple(row) for row in session.execute(orders_query)],  # type: ignore[misc]
    )


# -- RFM thresholds -------------------------------------------------------------------------


def compute_rfm_thresholds(session: Session, *, as_of: datetime) -> RfmThresholds:
    """Quintile edges over every customer (not merged away) with orders up to `as_of`."""
    order, customer = Order.__table__, Customer.__table__  # type: ignore[attr-defined]
    query = (
        select(func.count(), func.sum(order.c.total), func.max(order.c.created_at))
        .where(
            order.c.created_at <= literal(as_of, order.c.created_at.type),
            ~exists().where(
                and_(
                    customer.c.customer_id == order.c.customer_id,
                    customer.c.merged_into.is_not(None),
                )
            ),
        )
        .group_by(order.c.customer_id)
    )
    rows: Sequence[Any] = session.execute(query).all()
    return compute_thresholds(as_of, [(int(n), float(total), last) for n, total, last in rows])


def save_rfm_thresholds(session: Session, *, thresholds: RfmThresholds) -> None:
    row = session.get(RfmThresholdsRow, 1, with_for_update=True) or RfmThresholdsRow(id=1)
    row.computed_at = thresholds.computed_at
    row.customers = thresholds.customers
    row.recency, row.frequency, row.monetary = (
        thresholds.recency, thresholds.frequency, thresholds.monetary,
    )  # fmt: skip
    session.add(row)


def load_rfm_thresholds(session: Session) -> RfmThresholds | None:
    row = session.get(RfmThresholdsRow, 1)
    if row is None:
        return None
    return RfmThresholds(
        computed_at=row.computed_at, customers=row.customers,
        recency=row.recency, frequency=row.frequency, monetary=row.monetary,
    )  # fmt: skip


def uses_rfm(definitions: Iterable[SegmentDefinition]) -> bool:
    return any(rule.field.startswith("rfm.") for d in definitions for rule in d.rules())
