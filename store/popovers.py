"""On-site popovers waiting for the customer's next page view, served under display rules."""

from datetime import UTC, datetime, timedelta

from sqlmodel import Session, col, select

from store.models import Message


def due_popovers(
    session: Session, *, customer_id: str, max_per_day: int, expiry: timedelta,
    now: datetime | None = None,
) -> list[Message]:  # fmt: skip
    """The popovers to show now, oldest first, marked served (so a reload does not repeat them):
    none older than `expiry` (those are marked expired), at most `max_per_day` served in the
    last 24 hours."""
    now = now or datetime.now(UTC)
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
    due = []
    for message in rows:
        if message.status != "queued":
            continue
        if message.created_at < now - expiry:
            message.status, message.reason = "skipped", "expired before the customer came back"
        elif served_today + len(due) < max_per_day:
            message.status, message.sent_at = "sent", now
            due.append(message)
        session.add(message)
    return due
