"""Suppressions: who must not be messaged on which channel."""

from sqlmodel import Session, col, select

from store.models import Suppression


def suppress(session: Session, *, customer_id: str, channel: str, reason: str) -> None:
    if session.get(Suppression, (customer_id, channel)) is None:
        session.add(Suppression(customer_id=customer_id, channel=channel, reason=reason))


def suppression(session: Session, *, customer_id: str, channel: str) -> Suppression | None:
    """The suppression that applies to this channel (its own, or the global "*")."""
    query = select(Suppression).where(
        Suppression.customer_id == customer_id, col(Suppression.channel).in_([channel, "*"])
    )
    return session.exec(query).first()
