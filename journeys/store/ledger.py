"""The send ledger: one `message` row per idempotency key (run, step, visit) that says how far
its delivery got — queued, sending, then sent, skipped or failed. A retried or replayed send
finds its row and never goes out twice; a payload composed once is resent byte for byte."""

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import update
from sqlmodel import Session, col

from journeys.store.models import Message
from journeys.vocabulary.journey_types import QueueMessageInput

SETTLED = ("sent", "skipped", "failed")


def ledger_entry(
    session: Session, *, message: QueueMessageInput, category: str, at: datetime | None = None
) -> Message:
    """The message's row, made (queued) on its first delivery attempt (`at`, now by default)."""
    entry = session.get(Message, message.idempotency_key)
    if entry is None:
        entry = Message(**message.model_dump(), category=category, status="queued",
                        created_at=at or datetime.now(UTC))  # fmt: skip
        session.add(entry)
    return entry


def mark(
    session: Session,
    entry: Message,
    *,
    status: str,
    reason: str = "",
    payload: dict[str, Any] | None = None,
    at: datetime | None = None,
) -> None:
    entry.status, entry.reason = status, reason
    if payload is not None:
        entry.payload = payload
    if status == "sent":
        entry.sent_at = at or datetime.now(UTC)
    session.add(entry)


def settle(
    session: Session, *, key: str, status: str, reason: str, at: datetime | None = None
) -> Message:
    """After the provider answered: the message's final status."""
    entry = session.get(Message, key)
    assert entry is not None, f"no ledger entry {key}"
    mark(session, entry, status=status, reason=reason, at=at)
    return entry


def give_up(session: Session, *, key: str, status: str, reason: str) -> bool:
    """The run stopped a send that had not gone out (its goal met, or a day of retries over):
    the row says so, unless an attempt under way settled it first. False when it had."""
    changed = session.execute(
        update(Message)
        .where(col(Message.idempotency_key) == key, col(Message.status).not_in(SETTLED))
        .values(status=status, reason=reason)
    )
    return bool(changed.rowcount)  # type: ignore[attr-defined]


def record_engagement(
    session: Session, *, key: str, clicked: bool, by_machine: bool, at: datetime
) -> bool:
    """The message's first open (or click), the person's or a machine's: later ones, and a
    key no message has (a token outliving its row), change nothing. True if it was the first."""
    column = ("machine_" if by_machine else "") + ("clicked_at" if clicked else "opened_at")
    field = getattr(Message, column)
    changed = session.execute(
        update(Message)
        .where(col(Message.idempotency_key) == key, col(field).is_(None))
        .values({column: at})
    )
    return bool(changed.rowcount)  # type: ignore[attr-defined]
