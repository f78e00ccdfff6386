"""Synthetic shoppers for `journeys simulate`: personas whose visits are goal-directed
micro-journeys — browse, compare, fill a cart, buy, come back, review, return, answer NPS —
told as Segment calls with the event names and properties of the tracking plan.

Pure and seeded: the same seed gives the same calls, so a simulated log is a reproducible
backtest input and a load test is the same load twice.
"""

import heapq
import random
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

PRODUCTS = [
    ("p-mug", "Mug", "kitchen", 12.0), ("p-kettle", "Kettle", "kitchen", 39.0),
    ("p-teapot", "Teapot", "kitchen", 29.0), ("p-tea", "Green tea", "pantry", 8.5),
    ("p-coffee", "Coffee beans", "pantry", 14.0), ("p-grinder", "Grinder", "kitchen", 59.0),
    ("p-towel", "Tea towel", "home", 6.0), ("p-tray", "Serving tray", "home", 24.0),
]  # fmt: skip
# (persona, share of customers): what each one came for and how far it gets
PERSONAS = [
    ("browser", 0.35),  # looks around, signs up now and then, does not buy
    ("cart_abandoner", 0.20),  # fills a cart, leaves; some come back for it
    ("one_time_buyer", 0.20),  # buys once, opens the app, then lapses
    ("loyal", 0.15),  # buys again and again, reviews, recommends (NPS 9–10), shares
    ("returner", 0.10),  # buys, sends it back, is unhappy (NPS 0–6)
]


@dataclass
class Call:
    at: datetime
    seq: int  # the customer's own order, and a tie-break between customers
    body: dict[str, Any]


class Shopper:
    """One synthetic customer: an anonymous visitor who may sign up (identify with both ids, so
    the anonymous history joins the user), told as a list of calls in time order."""

    def __init__(self, index: int, start: datetime, rng: random.Random) -> None:
        self.rng = rng
        self.user = f"sim-{index}"
        self.anonymous = f"sim-anon-{index}"
        self.persona = rng.choices([p for p, _ in PERSONAS], [w for _, w in PERSONAS])[0]
        self.at = start
        self.known = False
        self.calls: list[Call] = []
        self.orders = 0

    # ---- the vocabulary of a visit

    def _call(self, kind: str, **fields: Any) -> None:
        ids = {"userId": self.user} if self.known else {"anonymousId": self.anonymous}
        body = {"type": kind, **ids, "messageId": f"{self.user}-{len(self.calls)}",
                "timestamp": self.at.isoformat(), **fields}  # fmt: skip
        self.calls.append(Call(self.at, len(self.calls), body))
        self.at += timedelta(seconds=self.rng.uniform(5, 90))

    def _later(self, low_days: float, high_days: float) -> None:
        self.at += timedelta(days=self.rng.uniform(low_days, high_days))

    def _product(self) -> dict[str, Any]:
        product_id, name, category, price = self.rng.choice(PRODUCTS)
        return {"product_id": product_id, "name": name, "category": category, "price": price}

    def _browse(self, views: int) -> dict[str, Any]:
        self._call("page", name="Home", properties={"path": "/"})
        if self.rng.random() < 0.4:
            self._call("track", event="Products Searched",
                       properties={"query": self.rng.choice(["tea", "mug", "coffee"])})  # fmt: skip
        product = self._product()
        for _ in range(views):
            product = self._product()
            self._call("track", event="Product Viewed", properties=product)
        return product

    def _sign_up(self) -> None:
        if self.known:
            return
        self.known = True
        body = {"traits": {"email": f"{self.user}@example.com", "persona": self.persona}}
        ids = {"userId": self.user, "anonymousId": self.anonymous}
        call = {"type": "identify", **ids, "messageId": f"{self.user}-{len(self.calls)}",
                "timestamp": self.at.isoformat(), **body}  # fmt: skip
        self.calls.append(Call(self.at, len(self.calls), call))
        self.at += timedelta(seconds=30)
        self._call("track", event="Signed Up", properties={"source": "web"})

    def _cart(self, product: dict[str, Any]) -> dict[str, Any]:
        cart = f"cart-{self.user}-{self.orders}"
        quantity = self.rng.randint(1, 3)
        self._call("track", event="Product Added",
                   properties={"cart_id": cart, **product, "quantity": quantity})  # fmt: skip
        self._call("track", event="Checkout Started",
                   properties={"cart_id": cart, "value": product["price"] * quantity,
                               "products": [{**product, "quantity": quantity}]})  # fmt: skip
        return {"cart_id": cart, "products": [{**product, "quantity": quantity}],
                "total": round(product["price"] * quantity, 2)}  # fmt: skip

    def _order(self, cart: dict[str, Any]) -> str:
        self._sign_up()
        order = f"order-{self.user}-{self.orders}"
        self.orders += 1
        self._call("track", event="Order Completed",
                   properties={"order_id": order, "total": cart["total"], "currency": "EUR",
                               "products": cart["products"]})  # fmt: skip
        return order

    def _nps(self, low: int, high: int) -> None:
        score = self.rng.randint(low, high)
        self._call("track", event="NPS Submitted", properties={"score": score, "survey_id": "nps"})

    # ---- the personas

    def story(self) -> list[Call]:
        getattr(self, f"_{self.persona}")()
        return self.calls

    def _browser(self) -> None:
        for visit in range(self.rng.randint(1, 4)):
            if visit:
                self._later(1, 10)
            self._browse(self.rng.randint(1, 4))
            if self.rng.random() < 0.25:
                self._sign_up()

    def _cart_abandoner(self) -> None:
        cart = self._cart(self._browse(self.rng.randint(1, 3)))
        if self.rng.random() < 0.5:
            self._sign_up()  # known, so a cart reminder can reach them
        if self.rng.random() < 0.4:  # came back for the cart
            self._later(0.2, 5)
            seen = {"cart_id": cart["cart_id"], "products": cart["products"]}
            self._call("track", event="Cart Viewed", properties=seen)
            self._order(cart)

    def _one_time_buyer(self) -> None:
        self._order(self._cart(self._browse(self.rng.randint(1, 3))))
        if self.rng.random() < 0.6:
            self._later(0.5, 4)
            self._call("track", event="Application Opened", properties={"version": "3.2"})
        if self.rng.random() < 0.3:
            self._later(3, 10)
            self._call("track", event="Product Reviewed",
                       properties={"product_id": self.rng.choice(PRODUCTS)[0],
                                   "rating": self.rng.randint(3, 5)})  # fmt: skip

    def _loyal(self) -> None:
        for n in range(self.rng.randint(2, 6)):
            if n:
                self._later(10, 40)
            self._order(self._cart(self._browse(self.rng.randint(1, 2))))
            if n == 0:
                self._later(0.5, 3)
                self._call("track", event="Application Opened", properties={"version": "3.2"})
            if n == 1:
                self._later(7, 9)
                self._nps(9, 10)
                if self.rng.random() < 0.5:
                    self._later(0.1, 2)
                    shared = {k: v for k, v in self._product().items() if k != "price"}
                    self._call("track", event="Product Shared",
                               properties={"share_via": "email", **shared})  # fmt: skip

    def _returner(self) -> None:
        order = self._order(self._cart(self._browse(self.rng.randint(1, 3))))
        self._later(3, 14)
        self._call("track", event="Order Refunded", properties={"order_id": order})
        self._later(1, 5)
        self._nps(0, 6)


def simulated_calls(
    customers: int, *, start: datetime, days: float, seed: int = 1
) -> Iterator[dict[str, Any]]:
    """`customers` shoppers arriving over the first half of `days` from `start`, their calls
    merged in time order (a shopper is made when its first call is due: memory follows the
    shoppers under way, not the whole log). Calls after `start + days` are left out."""
    rng = random.Random(seed)
    end = start + timedelta(days=days)
    arrivals = sorted(rng.uniform(0, days / 2) for _ in range(customers))
    seeds = [rng.random() for _ in range(customers)]
    due: list[tuple[datetime, int, int]] = []  # (time, shopper, call): the next call of each
    stories: dict[int, list[Call]] = {}
    arrived = 0
    while due or arrived < customers:
        if arrived < customers and (
            not due or start + timedelta(days=arrivals[arrived]) <= due[0][0]
        ):
            at = start + timedelta(days=arrivals[arrived])
            stories[arrived] = Shopper(arrived, at, random.Random(seeds[arrived])).story()
            heapq.heappush(due, (at, arrived, 0))
            arrived += 1
            continue
        at, shopper, index = heapq.heappop(due)
        story = stories[shopper]
        if at >= end:
            del stories[shopper]
            continue
        yield story[index].body
        if index + 1 < len(story):
            heapq.heappush(due, (story[index + 1].at, shopper, index + 1))
        else:
            del stories[shopper]
