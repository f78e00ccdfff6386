"""Transactions drawn from the BG/NBD and Gamma-Gamma processes with known parameters (Fader,
Hardie & Lee 2005; Fader & Hardie 2013): each customer buys at a Poisson rate drawn from
Gamma(r, alpha), may drop out after each repeat purchase with a probability drawn from
Beta(a, b), and spends amounts drawn around a mean drawn from Gamma-Gamma(p, q, gamma)."""

from datetime import UTC, datetime, timedelta

import numpy as np
from sqlmodel import Session

from journeys.store.models import Order

TRUTH = {"r": 0.25, "alpha": 4.0, "a": 0.8, "b": 2.5, "p": 6.0, "q": 4.0, "gamma": 15.0}


def simulate(
    *, customers: int, end: datetime, weeks: float = 78.0, seed: int = 1,
    params: dict[str, float] = TRUTH, prefix: str = "g",
) -> list[tuple[str, datetime, float]]:  # fmt: skip
    """(customer, time, amount) for `customers` whose first purchase falls in the `weeks`
    before `end`; nothing after `end`."""
    rng = np.random.default_rng(seed)
    r, alpha, a, b = (params[k] for k in ("r", "alpha", "a", "b"))
    p, q, gamma = (params[k] for k in ("p", "q", "gamma"))
    rows = []
    for i in range(customers):
        rate = rng.gamma(r, 1 / alpha)  # purchases a week
        dropout = rng.beta(a, b)
        nu = rng.gamma(q, 1 / gamma)
        t = rng.uniform(0, weeks * 0.5)  # first purchases in the first half: a history to see
        customer = f"{prefix}{i:05d}"
        repeats = 0
        while True:
            at = end - timedelta(weeks=weeks) + timedelta(weeks=t)
            rows.append((customer, at, round(float(rng.gamma(p, 1 / nu)), 2) + 0.01))
            if repeats and rng.random() < dropout:  # dropping out follows a repeat purchase
                break
            repeats += 1
            t += rng.exponential(1 / rate) if rate > 0 else weeks
            if t > weeks:
                break
    return rows


def insert_orders(session: Session, rows: list[tuple[str, datetime, float]]) -> None:
    for n, (customer, at, amount) in enumerate(rows):
        session.add(Order(order_id=f"{customer}-{n}", customer_id=customer, total=amount,
                          created_at=at.astimezone(UTC)))  # fmt: skip
    session.flush()
