"""Accepted events: stored before the signal, marked delivered after it, removed if it failed."""

import json
from collections.abc import Iterable, Iterator
from datetime import UTC, datetime
from typing import IO, Any

from sqlalchemy import delete, update
from sqlmodel import Session, col, select

from journeys.store.db import insert_builder
from journeys.store.models import Event

# the sender's clocks, already folded into the stored timestamp
SENDER_TIMES = ("timestamp", "originalTimestamp", "sentAt", "receivedAt")


def record_events(session: Session, *, events: list[Event]) -> tuple[list[Event], set[str]]:
    """Insert the events not stored yet.

    Returns the events that still need a signal (new, or stored by an attempt whose signal
    never succeeded) and the ids this call inserted (to remove if the signal fails).
    """
    ids = [e.message_id for e in events]
    # Two columns, not whole rows: on the hot path, and payloads can be 32 KB each.
    query = select(Event.message_id, Event.delivered_at).where(col(Event.message_id).in_(ids))
    delivered = dict(session.exec(query).all())
    inserted = {e.message_id for e in events if e.message_id not in delivered}
    session.add_all(e for e in events if e.message_id in inserted)
    session.flush()
    undelivered = [e for e in events if e.message_id in inserted or delivered[e.message_id] is None]
    return undelivered, inserted


def mark_delivered(session: Session, *, events: Iterable[Event]) -> None:
    """Mark these signalled events delivered. One that a concurrent request with the same
    messageId removed meanwhile (it inserted the row, its own signal failed, and
    `forget_undelivered` ran first) is put back: this signal did reach the customer."""
    rows = {e.message_id: e for e in events}
    if not rows:
        return
    now = datetime.now(UTC)
    marked = set(
        session.execute(
            update(Event)
            .where(col(Event.message_id).in_(list(rows)))
            .values(delivered_at=now)
            .returning(col(Event.message_id))
        ).scalars()
    )
    gone = [rows[i] for i in rows if i not in marked]
    if gone:
        columns = [c.name for c in Event.__table__.columns]  # type: ignore[attr-defined]
        values = [{c: getattr(e, c) for c in columns} | {"delivered_at": now} for e in gone]
        statement = insert_builder(session)(Event).values(values)
        session.execute(
            statement.on_conflict_do_update(
                index_elements=["message_id"], set_={"delivered_at": now}
            )
        )


def forget_undelivered(session: Session, *, message_ids: Iterable[str]) -> None:
    """Undo an insert whose signal failed, so nothing is half-applied."""
    ids = list(message_ids)
    if ids:
        session.execute(
            delete(Event).where(col(Event.message_id).in_(ids), col(Event.delivered_at).is_(None))
        )


def customer_events(session: Session, *, customer_id: str) -> list[Event]:
    return list(
        session.exec(
            select(Event).where(Event.customer_id == customer_id).order_by(col(Event.timestamp))
        )
    )


def exported_calls(
    session: Session, *, start: datetime | None = None, end: datetime | None = None
) -> Iterator[dict[str, Any]]:
    """Every call Temporal took, in time order, as a Segment call a backtest reads back: the
    stored payload with its messageId and its effective (skew-corrected) timestamp. Streamed."""
    query = select(Event).where(col(Event.delivered_at).is_not(None))
    if start is not None:
        query = query.where(col(Event.timestamp) >= start)
    if end is not None:
        query = query.where(col(Event.timestamp) < end)
    query = query.order_by(col(Event.timestamp), col(Event.message_id)).execution_options(
        yield_per=1000
    )
    for event in session.exec(query):
        call = {k: v for k, v in event.payload.items() if k not in SENDER_TIMES}
        yield {**call, "messageId": event.message_id, "timestamp": event.timestamp.isoformat()}


def export_calls(
    session: Session, out: IO[str], *, start: datetime | None = None, end: datetime | None = None
) -> int:
    """`exported_calls` as the NDJSON log `journeys backtest` reads, one call a line; how many."""
    count = 0
    for call in exported_calls(session, start=start, end=end):
        out.write(json.dumps(call, separators=(",", ":"), sort_keys=True) + "\n")
        count += 1
    return count
