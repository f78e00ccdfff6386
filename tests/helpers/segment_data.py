"""Generated customers for segment tests (seeded): varied traits with the traps a real store
has (a number stored as a string, a boolean, null, a list stored as a string), predicted CLV
traits, events and orders on and around window edges, stages, merged profiles."""

import random
from datetime import datetime, timedelta
from typing import Any

from sqlmodel import Session

from journeys.store.models import Customer, Event, Order
from journeys.vocabulary.events import Stage

AS_OF = datetime.fromisoformat("2025-06-15T12:00:00+00:00")
COUNTRIES = ["GB", "FR", "DE", "US", "gb"]
CITIES = ["London", "Paris", "Berlin", "Boston", "Leeds"]
INTERESTS = ["running", "cooking", "travel", "music", "gaming"]
LIFESTYLES = ["urban", "outdoor", "family", "student"]
VALUES = ["sustainability", "value", "quality"]
EVENTS = ["Product Viewed", "Checkout Started", "Order Completed", "Email Delivered"]


def _maybe(rng: random.Random, value: Any, missing: float = 0.15) -> Any:
    return value if rng.random() > missing else None


def _trap(rng: random.Random, value: Any) -> Any:
    """Sometimes the value of another JSON type, or null."""
    roll = rng.random()
    if roll < 0.05:
        return str(value)
    if roll < 0.08:
        return True
    if roll < 0.1:
        return None
    return value


def _instant(rng: random.Random) -> datetime:
    """Mostly random within 400 days; often exactly on an edge of a window, or after as_of."""
    roll = rng.random()
    if roll < 0.15:
        days = rng.choice([7, 30, 90, 365])
        return AS_OF - timedelta(days=days) + rng.choice([timedelta(0), timedelta(microseconds=1)])
    if roll < 0.2:
        return AS_OF + rng.choice([timedelta(0), timedelta(microseconds=1), timedelta(days=2)])
    return AS_OF - timedelta(seconds=rng.randrange(0, 400 * 86400))


def _traits(rng: random.Random) -> dict[str, Any]:
    traits: dict[str, Any] = {
        "age": _trap(rng, rng.randrange(16, 80)),
        "gender": rng.choice(["f", "m", "x"]),
        "income": _trap(rng, rng.choice([20000, 35000.5, 50000, 80000, 120000])),
        "education": rng.choice(["secondary", "bachelor", "master", "phd"]),
        "country": rng.choice(COUNTRIES),
        "region": rng.choice(["north", "south", "east", "west"]),
        "city": rng.choice(CITIES),
        "postal_code": rng.choice(["01060", "75001", "SW1A 1AA", 1060]),
        "interests": rng.sample(INTERESTS, rng.randrange(0, 4)),
        "lifestyle": rng.sample(LIFESTYLES, rng.randrange(0, 3)),
        "values": rng.sample(VALUES, rng.randrange(0, 3)),
        "email": "someone@example.com",
    }
    if rng.random() < 0.05:
        traits["interests"] = "running"  # a list trait stored as a string matches no contains
    if rng.random() < 0.05:
        traits["interests"] = [1, "cooking", ["running"]]
    return {k: v for k, v in traits.items() if _maybe(rng, v) is not None or v is None}


def _predicted(rng: random.Random) -> dict[str, Any]:
    """The traits the CLV fit writes (activities/kpis.py), for most customers: values on the
    edges the test segments use, with the same traps as the other traits."""
    if rng.random() < 0.2:
        return {}  # no fit has seen them
    p_alive = rng.choice([0.0, 0.1, 0.3, 0.5, 0.75, 1.0, round(rng.random(), 6)])
    return {
        "p_alive": _trap(rng, p_alive),
        "churn_risk": _trap(rng, round(1.0 - p_alive, 6)),
        "expected_purchases": _trap(rng, rng.choice([0, 0.5, 1.5, 3.25])),
        "predicted_clv": _trap(rng, rng.choice([0.0, 12.5, 100, 250.75])),
        "historic_clv": _trap(rng, rng.choice([0, 40.25, 100, 999.5])),
    }


def generate(session: Session, *, customers: int = 300, seed: int = 7) -> list[str]:
    """Insert `customers` profiles with events and orders; returns every customer id."""
    rng = random.Random(seed)
    # predicted traits from a generator of their own: the other data stays as it was
    predicted = random.Random(seed + 1)
    ids = []
    seq = 0
    for i in range(customers):
        customer_id = f"c{i:04d}"
        ids.append(customer_id)
        stage = rng.choice([*Stage, None])
        merged = f"c{i - 1:04d}" if i and rng.random() < 0.03 else None
        session.add(
            Customer(
                customer_id=customer_id, traits={**_traits(rng), **_predicted(predicted)},
                stage=stage,
                merged_into=merged, created_at=AS_OF, updated_at=AS_OF,
            )
        )  # fmt: skip
        activity = rng.choice([0, 1, 3, 8, 25, 40])
        for _ in range(activity):
            seq += 1
            kind = rng.choice(["track", "track", "page", "screen", "identify"])
            name = rng.choice(EVENTS) if kind == "track" else None
            at = _instant(rng)
            session.add(
                Event(
                    message_id=f"m{seq}", customer_id=customer_id, type=kind, event=name,
                    timestamp=at, received_at=at, payload={},
                )
            )  # fmt: skip
        for n in range(rng.choice([0, 0, 1, 2, 3, 6])):
            # multiples of 0.25: sums are exact in binary floating point on every back-end
            total = rng.randrange(1, 2000) * 0.25
            session.add(
                Order(order_id=f"o{customer_id}-{n}", customer_id=customer_id, total=total,
                      created_at=_instant(rng))
            )  # fmt: skip
    session.flush()
    return ids
