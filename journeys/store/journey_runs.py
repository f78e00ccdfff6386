"""What journey runs leave behind: their progress records and the messages they queue."""

from datetime import datetime

from sqlalchemy import and_, func, or_
from sqlmodel import Session, col, select

from journeys.store.db import insert_builder
from journeys.store.models import JourneyEvent, Message
from journeys.vocabulary.journey_types import JourneyRecordInput


def record_journey_event(session: Session, *, record: JourneyRecordInput) -> bool:
    """Idempotent on (run, seq): a retried activity leaves one record. True if it wrote it."""
    return bool(record_journey_events(session, records=[record]))


def recorded_detail(session: Session, *, record: JourneyRecordInput) -> str | None:
    """The detail the store holds at the record's place in its run (None: nothing there)."""
    kept = session.get(JourneyEvent, f"{record.workflow_id}:{record.seq}")
    return kept.detail if kept is not None else None


def record_journey_events(
    session: Session, *, records: list[JourneyRecordInput]
) -> list[JourneyRecordInput]:
    """Several records of runs at once (what a run noted since it last wrote), in one statement
    that skips those already there (a retried activity); the ones that were new."""
    by_key: dict[str, JourneyRecordInput] = {}
    for record in records:  # the first of one key wins, as in the table
        by_key.setdefault(f"{record.workflow_id}:{record.seq}", record)
    if not by_key:
        return []
    table = JourneyEvent.__table__  # type: ignore[attr-defined]
    rows = [{"key": key, **record.model_dump()} for key, record in by_key.items()]
    # the rows as parameters, not in the statement: compiled once, not once a call
    insert = insert_builder(session)(table).on_conflict_do_nothing().returning(table.c.key)
    written = set(session.execute(insert, rows).scalars())
    return [record for key, record in by_key.items() if key in written]


def journey_events(session: Session, *, workflow_id: str) -> list[JourneyEvent]:
    query = select(JourneyEvent).where(JourneyEvent.workflow_id == workflow_id)
    return list(session.exec(query.order_by(col(JourneyEvent.seq))))


def customer_messages(session: Session, *, customer_ids: list[str]) -> list[Message]:
    """One customer's messages: pass `merged_ids` to include what its merged visits got."""
    query = select(Message).where(col(Message.customer_id).in_(customer_ids))
    return list(session.exec(query.order_by(col(Message.created_at))))


def recent_marketing_sends(
    session: Session, *, customer_id: str, channel: str, since: datetime, other_than: str
) -> int:
    """Marketing messages sent (or being sent) to the customer on the channel since `since`:
    what a frequency cap counts. Transactional messages neither count nor are capped."""
    query = select(func.count()).where(
        Message.customer_id == customer_id,
        Message.channel == channel,
        Message.category == "marketing",
        Message.idempotency_key != other_than,
        or_(
            and_(col(Message.status) == "sent", col(Message.sent_at) >= since),
            and_(col(Message.status) == "sending", col(Message.created_at) >= since),
        ),
    )
    return int(session.exec(query).one())
