"""On-site popovers waiting for the customer's next page view, served under display rules."""

from collections.abc import Container
from datetime import UTC, datetime, timedelta

from sqlalchemy import update
from sqlmodel import Session, col, func, select

from journeys.store.customers import customer_traits
from journeys.store.models import Message


def due_popovers(
    session: Session, *, customer_id: str, max_per_day: int, expiry: timedelta,
    session_id: str | None = None, max_per_session: int = 1,
    templates: Container[str] | None = None, now: datetime | None = None,
) -> list[Message]:  # fmt: skip
    """The popovers to show now, oldest first, marked served (so a reload does not repeat them):
    none older than `expiry` (those are marked expired), at most `max_per_day` served in the
    last 24 hours and, given a `session_id`, at most `max_per_session` served in that session
    (whoever the session belonged to then). Given `templates`, only those templates may show
    (the page's display rule); the others wait for another page.

    Page loads at once never share a popover: on PostgreSQL the customer's row lock makes them
    take turns; everywhere each popover is claimed by an UPDATE that only a still-queued row
    passes, so a load that read it queued but came second does not show it."""
    now = now or datetime.now(UTC)
    customer_traits(session, customer_id=customer_id, lock=True)
    rows = list(
        session.exec(
            select(Message)
            .where(Message.customer_id == customer_id, Message.channel == "popover")
            .where(col(Message.status).in_(["queued", "sent"]))
            .order_by(col(Message.created_at))
        )
    )
    day_ago = now - timedelta(days=1)
    served_today = sum(1 for m in rows if m.status == "sent" and m.sent_at and m.sent_at > day_ago)
    room = max_per_day - served_today
    if session_id is not None:
        served_in_session = session.exec(
            select(func.count())
            .select_from(Message)
            .where(Message.served_session == session_id, Message.channel == "popover")
            .where(Message.status == "sent")
        ).one()
        room = min(room, max_per_session - served_in_session)
    due: list[Message] = []
    for message in rows:
        if message.status != "queued":
            continue
        if message.created_at < now - expiry:
            message.status, message.reason = "skipped", "expired before the customer came back"
            session.add(message)
        elif len(due) < room and (templates is None or message.template in templates):
            claimed = session.execute(
                update(Message)
                .where(col(Message.idempotency_key) == message.idempotency_key)
                .where(col(Message.status) == "queued")
                .values(status="sent", sent_at=now, served_session=session_id)
                .execution_options(synchronize_session=False)
            )
            if claimed.rowcount == 1:  # type: ignore[attr-defined]
                session.refresh(message)
                due.append(message)
    return due
