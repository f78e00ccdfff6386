"""A small shop in a store: a catalogue, orders where 9 of 10 tent buyers also bought a tarp,
product views, and a known customer without any history."""

from datetime import UTC, datetime, timedelta

from journeys.store.customers import record_order, upsert_traits
from journeys.store.db import session_scope
from journeys.store.models import Event, Product

PRODUCTS = [
    ("tent", "Dome tent", "Two person dome tent", "camping", 199.0),
    ("tarp", "Tent tarp", "Footprint tarp for the dome tent", "camping", 29.0),
    ("stove", "Camp stove", "Gas stove for camping", "camping", 59.0),
    ("mug", "Enamel mug", "Coffee mug", "kitchen", 12.0),
    ("socks", "Wool socks", "Merino hiking socks", "apparel", 19.0),
]


def seed_shop(url: str) -> str:
    """Fill the store at `url` with the shop, dated up to now; returns `url`."""
    now = datetime.now(UTC)
    with session_scope(url) as session:
        for pid, name, description, category, price in PRODUCTS:
            session.add(Product(product_id=pid, name=name, description=description,
                                category=category, price=price))  # fmt: skip
        for n in range(10):
            products = [{"product_id": "tent"}, {"product_id": "tarp" if n < 9 else "stove"}]
            record_order(session, order_id=f"o{n}", customer_id=f"camper-{n}",
                         properties={"products": products}, at=now - timedelta(days=2))  # fmt: skip
        for n in range(20):  # socks sell best, to other people
            record_order(session, order_id=f"s{n}", customer_id=f"walker-{n}",
                         properties={"products": [{"product_id": "socks", "quantity": 2}]},
                         at=now - timedelta(days=1))  # fmt: skip
        record_order(session, order_id="me-1", customer_id="me",
                     properties={"products": [{"product_id": "tent"}]}, at=now)  # fmt: skip
        session.add(
            Event(
                message_id="v1",
                customer_id="viewer",
                type="track",
                event="Product Viewed",
                timestamp=now,
                received_at=now,
                payload={"properties": {"product_id": "stove"}},
            )  # fmt: skip
        )
        upsert_traits(session, customer_id="newbie", traits={"plan": "free"})
    return url
