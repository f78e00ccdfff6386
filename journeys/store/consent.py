"""Consent in the store: suppressions (hard blocks) and subscription preferences (marketing)."""

from datetime import UTC, datetime

from sqlmodel import Session, col, select

from journeys.store.models import Subscription, Suppression


def suppress(session: Session, *, customer_id: str, channel: str, reason: str) -> None:
    if session.get(Suppression, (customer_id, channel)) is None:
        session.add(Suppression(customer_id=customer_id, channel=channel, reason=reason))


def lift_suppression(session: Session, *, customer_id: str, channel: str) -> bool:
    """Remove a block (an operator's decision, e.g. a corrected address); True if there was one."""
    row = session.get(Suppression, (customer_id, channel))
    if row is not None:
        session.delete(row)
    return row is not None


def suppressions(session: Session, *, customer_id: str) -> list[Suppression]:
    query = select(Suppression).where(Suppression.customer_id == customer_id)
    return list(session.exec(query.order_by(col(Suppression.channel))))


def suppression(session: Session, *, customer_id: str, channel: str) -> Suppression | None:
    """The suppression that applies to this channel (its own, or the global "*")."""
    query = select(Suppression).where(
        Suppression.customer_id == customer_id, col(Suppression.channel).in_([channel, "*"])
    )
    return session.exec(query).first()


def subscriptions(session: Session, *, customer_id: str) -> list[Subscription]:
    query = select(Subscription).where(Subscription.customer_id == customer_id)
    return list(session.exec(query.order_by(col(Subscription.channel), col(Subscription.topic))))


def set_subscription(
    session: Session, *, customer_id: str, channel: str, topic: str, subscribed: bool,
    source: str,
) -> Subscription:  # fmt: skip
    """Record the customer's latest word for one group (channel and topic, "*" for all)."""
    row = session.get(Subscription, (customer_id, channel, topic))
    if row is None:
        row = Subscription(customer_id=customer_id, channel=channel, topic=topic,
                           subscribed=subscribed, source=source)  # fmt: skip
    else:
        row.subscribed, row.source, row.updated_at = subscribed, source, datetime.now(UTC)
    session.add(row)
    return row
