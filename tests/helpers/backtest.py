"""What the backtest tests share: a second version of post_purchase, and calls as the API
stores them."""

from datetime import UTC, datetime, timedelta

from journeys.store.db import session_scope
from journeys.store.models import Event

NO_NUDGE = """
name: post_purchase
trigger: {stage_changed: {to: onboarding}}
re_entry: {policy: never}
steps:
  - {id: thanks, kind: send, channel: email, template: order_thanks}
  - {id: settle_in, kind: wait, duration: 2d}
  - {id: tips, kind: send, channel: email, template: getting_started_tips}
"""


def stored(url: str) -> None:
    """Two customers' calls as the API stored them: the sender's clock ran an hour fast on one
    (the row keeps the corrected time), and one call never reached Temporal."""
    day = datetime(2025, 5, 1, 9, tzinfo=UTC)
    rows = [
        ("m1", "ann", "identify", None, day, {"traits": {"email": "ann@example.com"}}),
        ("m2", "ann", "track", "Order Completed", day + timedelta(hours=1),
         {"event": "Order Completed", "properties": {"total": 9.5},
          "timestamp": "2025-05-01T11:00:00Z", "sentAt": "2025-05-01T11:00:05Z"}),
        ("m3", "bob", "track", "Order Completed", day + timedelta(days=3),
         {"event": "Order Completed", "properties": {"total": 3}}),
    ]  # fmt: skip
    with session_scope(url) as session:
        for message_id, user, kind, name, at, extra in rows:
            session.add(Event(
                message_id=message_id, customer_id=user, type=kind, event=name, user_id=user,
                timestamp=at, received_at=at, delivered_at=at,
                payload={"type": kind, "userId": user, "messageId": message_id, **extra},
            ))  # fmt: skip
        session.add(Event(
            message_id="m4", customer_id="bob", type="track", event="Order Completed",
            user_id="bob", timestamp=day, received_at=day, delivered_at=None,
            payload={"type": "track", "userId": "bob", "event": "Order Completed"},
        ))  # fmt: skip
