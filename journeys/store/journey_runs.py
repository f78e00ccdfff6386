"""What journey runs leave behind: their progress records and the messages they queue."""

from datetime import datetime

from sqlalchemy import and_, func, or_
from sqlmodel import Session, col, select

from journeys.store.models import JourneyEvent, Message
from journeys.vocabulary.journey_types import JourneyRecordInput


def record_journey_event(session: Session, *, record: JourneyRecordInput) -> bool:
    """Idempotent on (run, seq): a retried activity leaves one record. True if it wrote it."""
    key = f"{record.workflow_id}:{record.seq}"
    if session.get(JourneyEvent, key) is not None:
        return False
    session.add(
        JourneyEvent(
            key=key,
            workflow_id=record.workflow_id,
            seq=record.seq,
            customer_id=record.customer_id,
            journey=record.journey,
            version=record.version,
            kind=record.kind,
            step=record.step,
            detail=record.detail,
            at=record.at,
        )
    )
    return True


def record_journey_events(
    session: Session, *, records: list[JourneyRecordInput]
) -> list[JourneyRecordInput]:
    """Several records of runs at once (what a run noted since it last wrote); the ones that
    were new."""
    return [record for record in records if record_journey_event(session, record=record)]


def journey_events(session: Session, *, workflow_id: str) -> list[JourneyEvent]:
    query = select(JourneyEvent).where(JourneyEvent.workflow_id == workflow_id)
    return list(session.exec(query.order_by(col(JourneyEvent.seq))))


def customer_messages(session: Session, *, customer_id: str) -> list[Message]:
    query = select(Message).where(Message.customer_id == customer_id)
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
