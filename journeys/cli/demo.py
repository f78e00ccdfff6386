"""Demo data: a small catalogue and a few hundred synthetic customers, sent through the API.

Deterministic (seeded) messageIds make a second run harmless: every event is deduplicated.
"""

import random
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
from sqlmodel import Session

from journeys.store.db import session_scope
from journeys.store.models import Product

CATALOGUE = [
    (
        "p-01",
        "Trail running shoes",
        "Light shoes with a grippy sole for wet trails",
        "shoes",
        129.0,
    ),
    ("p-02", "Road running shoes", "Cushioned daily trainer for road miles", "shoes", 119.0),
    ("p-03", "Merino running socks", "Three pairs of breathable merino socks", "apparel", 24.0),
    ("p-04", "Waterproof shell jacket", "Packable jacket for rain and wind", "apparel", 189.0),
    ("p-05", "Running vest 5L", "Hydration vest with two soft flasks", "gear", 89.0),
    ("p-06", "Headlamp 400 lm", "Rechargeable headlamp for night runs", "gear", 49.0),
    ("p-07", "GPS watch", "Multisport GPS watch with heart-rate sensor", "electronics", 299.0),
    ("p-08", "Wireless earbuds", "Sweat-proof earbuds with secure fit", "electronics", 99.0),
    ("p-09", "Energy gels (12)", "Caffeinated gels for long runs", "nutrition", 30.0),
    ("p-10", "Electrolyte tabs", "Sugar-free hydration tablets", "nutrition", 12.0),
    ("p-11", "Foam roller", "Firm roller for recovery", "recovery", 35.0),
    ("p-12", "Compression sleeves", "Calf sleeves for recovery", "recovery", 29.0),
]

# (final stage, share of customers): every stage is populated
PATHS = [
    ("awareness", 0.2),
    ("consideration", 0.25),
    ("decision", 0.15),
    ("onboarding", 0.15),
    ("loyalty", 0.15),
    ("advocacy", 0.1),
]


def seed_catalogue(database_url: str) -> None:
    with session_scope(database_url) as session:
        _upsert_products(session)


def _upsert_products(session: Session) -> None:
    for pid, name, description, category, price in CATALOGUE:
        session.merge(
            Product(
                product_id=pid, name=name, description=description, category=category, price=price
            )
        )


def customer_calls(index: int, rng: random.Random, start: datetime) -> list[dict[str, Any]]:
    """The Segment calls of one synthetic customer, ending in a stage drawn from PATHS."""
    stage = rng.choices([p for p, _ in PATHS], weights=[w for _, w in PATHS])[0]
    user, anon = f"demo-{index:04d}", f"demo-anon-{index:04d}"
    at = start + timedelta(minutes=rng.randint(0, 60 * 24 * 20))
    calls: list[dict[str, Any]] = []

    def add(kind: str, **fields: Any) -> None:
        nonlocal at
        at += timedelta(minutes=rng.randint(1, 240))
        calls.append(
            {
                "type": kind,
                "messageId": f"{user}-{len(calls)}",
                "timestamp": at.isoformat(),
                "anonymousId": anon,
                **fields,
            }
        )

    product = rng.choice(CATALOGUE)
    item = {
        "product_id": product[0],
        "name": product[1],
        "category": product[3],
        "price": product[4],
    }
    add("page", name="Home")
    if stage == "awareness":
        return calls
    add("track", event="Product Viewed", properties=item)
    if stage == "consideration":
        return calls
    add(
        "identify",
        userId=user,
        traits={
            "plan": rng.choice(["free", "plus"]),
            "country": rng.choice(["US", "DE", "FR", "GB"]),
        },
    )
    add("track", userId=user, event="Product Added", properties={**item, "cart_id": f"cart-{user}"})
    add(
        "track",
        userId=user,
        event="Checkout Started",
        properties={"cart_id": f"cart-{user}", "value": item["price"]},
    )
    if stage == "decision":
        return calls
    orders = 1 if stage == "onboarding" else rng.randint(2, 4)
    for n in range(orders):
        add(
            "track",
            userId=user,
            event="Order Completed",
            properties={
                "order_id": f"{user}-o{n}",
                "total": item["price"],
                "currency": "USD",
                "products": [item],
            },
        )
    if stage == "advocacy":
        if rng.random() < 0.5:
            add(
                "track",
                userId=user,
                event="Product Reviewed",
                properties={"product_id": item["product_id"], "rating": 5},
            )
        else:
            add(
                "track",
                userId=user,
                event="NPS Submitted",
                properties={"score": rng.choice([9, 10])},
            )
    return calls


def demo_calls(customers: int = 300, seed: int = 7) -> list[dict[str, Any]]:
    """The demo's three weeks of shop traffic, ending about now: inactivity counts in event
    time, so a demo dated months back would show every customer at risk."""
    rng = random.Random(seed)
    start = datetime.now(UTC).replace(second=0, microsecond=0) - timedelta(days=21)
    return [call for i in range(customers) for call in customer_calls(i, rng, start)]


async def send_demo(
    api_url: str, write_key: str, customers: int = 300, batch_size: int = 100
) -> int:
    """Send the demo through the tracking API as Segment batches; returns the calls sent."""
    calls = demo_calls(customers)
    async with httpx.AsyncClient(base_url=api_url, auth=(write_key, ""), timeout=60) as http:
        for i in range(0, len(calls), batch_size):
            r = await http.post("/v1/batch", json={"batch": calls[i : i + batch_size]})
            r.raise_for_status()
    return len(calls)
