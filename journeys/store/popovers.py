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
    templates: Container[str] | None = None, on_show: Container[str] = (),
    now: datetime | None = None,
) -> list[Message]:  # fmt: skip
    """The popovers to show now, oldest first, marked served (so a reload does not repeat them):
    none older than `expiry` (those are marked expired), at most `max_per_day` served in the
    last 24 hours and, given a `session_id`, at most `max_per_session` served in that session
    (whoever the session belonged to then). Given `templates`, only those templates may show
    (the page's display rule); the others wait for another page. Those of an `on_show`
    template (exit intent: the visitor may never trigger it) come back still queued, outside
    the caps: `claim_popover` serves one when the page shows it.

    Page loads at once never share a popover: on PostgreSQL the customer's row lock makes them
    take turns; everywhere each popover is claimed by an UPDATE that only a still-queued row
    passes, so a load that read it queued but came second does not show it."""
    now = now or datetime.now(UTC)
    customer_traits(session, customer_id=customer_id, lock=True)
    rows = _popovers(session, customer_id)
    room = _room(session, rows, max_per_day, session_id, max_per_session, now)
    due: list[Message] = []
    for message in rows:
        if message.status != "queued":
            continue
        if message.created_at < now - expiry:
            message.status, message.reason = "skipped", "expired before the customer came back"
            session.add(message)
        elif templates is not None and message.template not in templates:
            continue
        elif message.template in on_show:
            due.append(message)
        elif room > 0 and _claim(session, message, session_id, now):
            room -= 1
            due.append(message)
    return due


def claim_popover(
    session: Session, *, customer_id: str, key: str, max_per_day: int,
    session_id: str | None = None, max_per_session: int = 1, now: datetime | None = None,
) -> str | None:  # fmt: skip
    """Serve one popover the page is about to show (an `on_show` one): None if it may show,
    else why not. Only the customer's own queued popover, within the caps, and only once."""
    now = now or datetime.now(UTC)
    customer_traits(session, customer_id=customer_id, lock=True)
    rows = _popovers(session, customer_id)
    message = next((m for m in rows if m.idempotency_key == key), None)
    if message is None:
        return "no such popover for this visitor"
    if message.status != "queued":
        return "already shown"
    if _room(session, rows, max_per_day, session_id, max_per_session, now) < 1:
        return "this visitor's popovers for the day or session are used up"
    return None if _claim(session, message, session_id, now) else "already shown"


def _popovers(session: Session, customer_id: str) -> list[Message]:
    return list(
        session.exec(
            select(Message)
            .where(Message.customer_id == customer_id, Message.channel == "popover")
            .where(col(Message.status).in_(["queued", "sent"]))
            .order_by(col(Message.created_at))
        )
    )


def _room(
    session: Session, rows: list[Message], max_per_day: int, session_id: str | None,
    max_per_session: int, now: datetime,
) -> int:  # fmt: skip
    """How many more may be served now under the day's and the session's caps."""
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
    return room


def _claim(session: Session, message: Message, session_id: str | None, now: datetime) -> bool:
    """Queued to served, if no other page load got there first."""
    claimed = session.execute(
        update(Message)
        .where(col(Message.idempotency_key) == message.idempotency_key)
        .where(col(Message.status) == "queued")
        .values(status="sent", sent_at=now, served_session=session_id)
        .execution_options(synchronize_session=False)
    )
    if claimed.rowcount != 1:  # type: ignore[attr-defined]
        return False
    session.refresh(message)
    return True
