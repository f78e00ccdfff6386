"""On-site popovers waiting for the customer's next page view, served under display rules."""

from collections.abc import Container
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import update
from sqlmodel import Session, col, func, select

from journeys.store import recommendations
from journeys.store.customers import customer_traits, merged_ids
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
    rows = _popovers(session, merged_ids(session, customer_id=customer_id))
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
    ids = merged_ids(session, customer_id=customer_id)
    message = session.get(Message, key)
    if message is None or message.customer_id not in ids or message.channel != "popover":
        return "no such popover for this visitor"
    if message.status == "skipped":  # expired, or withdrawn when its run ended early
        return f"no longer shown: {message.reason}"
    if message.status != "queued":
        return "already shown"
    rows = _popovers(session, ids)
    if _room(session, rows, max_per_day, session_id, max_per_session, now) < 1:
        return "this visitor's popovers for the day or session are used up"
    return None if _claim(session, message, session_id, now) else "already shown"


def withdraw_popovers(session: Session, *, workflow_id: str, outcome: str) -> int:
    """A run that ended before its last step (its goal, an exit rule, an operator) takes back
    the popovers it queued that no page has shown: a cart popover after the order, or a
    sign-up offer after the sign-up, would contradict what the customer just did. Idempotent;
    how many it withdrew."""
    reason = f"withdrawn: the run ended ({outcome}) before a page showed it"
    withdrawn = session.execute(
        update(Message)
        .where(col(Message.idempotency_key).startswith(f"{workflow_id}:", autoescape=True))
        .where(col(Message.channel) == "popover", col(Message.status) == "queued")
        .values(status="skipped", reason=reason)
        .execution_options(synchronize_session=False)
    )
    return int(withdrawn.rowcount)  # type: ignore[attr-defined]


def _popovers(session: Session, customer_ids: list[str]) -> list[Message]:
    """The customer's popovers, queued or served, those of the visits merged into it too: a
    visitor who signs in between two pages still gets what their anonymous visit queued."""
    return list(
        session.exec(
            select(Message)
            .where(col(Message.customer_id).in_(customer_ids), Message.channel == "popover")
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


MAX_PRODUCTS = 6  # what a popover has room for


def popover_products(
    session: Session, *, kind: str, customer_id: str, context: dict[str, Any]
) -> list[dict[str, Any]]:
    """The products a popover of `kind` shows, as cards (product_id, name, price, quantity,
    url, image_url): the cart's (the event's Segment `products`) for a basket or cart popover,
    the journey's `recommend` step's for a recommendation, and when the journey supplied none,
    for a recommendation or retargeting popover the customer's recently viewed products they
    have not bought (from the catalogue)."""
    given = (context.get("properties") or {}).get("products")
    cart = [p for p in given if isinstance(p, dict)] if isinstance(given, list) else []
    picked = [p for p in context.get("products") or [] if isinstance(p, dict)]
    if kind in ("email_my_basket", "cart_recovery"):
        found = cart or picked
    elif kind in ("product_recommendation", "retargeting"):
        found = picked or _recently_viewed(session, customer_id)
    else:
        return []
    cards = [_card(p) for p in found]
    return [card for card in cards if card["product_id"]][:MAX_PRODUCTS]


def _recently_viewed(session: Session, customer_id: str) -> list[dict[str, Any]]:
    seen = recommendations.customer(session, customer_id=customer_id)
    if seen is None:
        return []
    latest = list(dict.fromkeys(reversed(seen.history)))  # newest first, each once
    wanted = [p for p in latest if p not in seen.purchased][:MAX_PRODUCTS]
    rows = recommendations.products(session, product_ids=wanted)
    return [
        {"product_id": p, "name": row.name, "price": row.price}
        for p in wanted
        if (row := rows.get(p)) is not None
    ]


def _card(product: dict[str, Any]) -> dict[str, Any]:
    """A product as the snippet draws it, from a Segment product or a recommendation card."""
    product_id = recommendations.product_id_of(product)

    def number(key: str) -> float | None:
        value = product.get(key)
        if isinstance(value, int | float) and not isinstance(value, bool):
            return float(value)
        return None

    def text(key: str) -> str | None:
        value = product.get(key)
        return str(value)[:500] if isinstance(value, str | int | float) and value != "" else None

    return {
        "product_id": product_id,
        "name": text("name") or product_id,
        "price": number("price"),
        "quantity": number("quantity"),
        "url": text("url"),
        "image_url": text("image_url"),
    }


def served_popover(session: Session, *, customer_id: str, key: str) -> Message | None:
    """The customer's popover `key` (or a visit's merged into it) once it has been shown
    (served), else None."""
    message = session.get(Message, key)
    if message is None or message.channel != "popover":
        return None
    if message.customer_id != customer_id and message.customer_id not in merged_ids(
        session, customer_id=customer_id
    ):
        return None
    return message if message.status == "sent" else None


def mark_submitted(session: Session, *, key: str, now: datetime | None = None) -> bool:
    """Record that the visitor submitted the popover's form; False if it was already."""
    done = session.execute(
        update(Message)
        .where(col(Message.idempotency_key) == key, col(Message.outcome).is_(None))
        .values(outcome="submitted", outcome_at=now or datetime.now(UTC))
        .execution_options(synchronize_session=False)
    )
    return done.rowcount == 1  # type: ignore[attr-defined]
