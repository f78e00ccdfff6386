"""Offline evaluation: a per-customer temporal split, precision@k and recall@k of each kind
next to a popularity baseline (all-time best-sellers) measured on the same split.

Split: each customer's baskets (an order; without order ids, the interactions at one instant)
in time order; the last `holdout` share of them (at least one) is held out, the rest trains.
Customers with a single basket only train. Every customer's earlier interactions train, so
other customers' later data is seen too (the usual leave-latest-out protocol).

Scored: what serving returns (the kind, padded by its fallback chain), for each customer with
something to find. Without `repeat_purchases`, products the customer had in training are
excluded from the recommendations and from the targets (finding new products); with it, they
are allowed in both (groceries: buying again is the point).
"""

import math
import time
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from journeys.recommendations import bought_together, people_like_you, serving, similar, trending
from journeys.recommendations.types import CatalogueItem, Customer, Interaction, Model


@dataclass
class Split:
    train: list[Interaction]
    test: dict[str, list[Interaction]]  # held-out interactions by customer


@dataclass
class Score:
    kind: str
    precision: float | None = None
    recall: float | None = None
    customers: int = 0
    own_share: float | None = None  # share of slots the kind filled itself (no fallback)
    fit_seconds: float | None = None
    note: str = ""


@dataclass
class Report:
    k: int
    holdout: float
    interactions: int
    customers: int
    products: int
    test_customers: int
    scores: list[Score] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {
            "k": self.k,
            "holdout": self.holdout,
            "interactions": self.interactions,
            "customers": self.customers,
            "products": self.products,
            "test_customers": self.test_customers,
            "scores": [vars(s) for s in self.scores],
        }


def split(interactions: Sequence[Interaction], holdout: float = 0.2) -> Split:
    if not 0 < holdout < 1:
        raise ValueError("holdout must be between 0 and 1")
    by_customer: dict[str, list[Interaction]] = defaultdict(list)
    for i in interactions:
        by_customer[i.customer].append(i)
    train: list[Interaction] = []
    test: dict[str, list[Interaction]] = {}
    for customer, rows in by_customer.items():
        rows.sort(key=lambda i: (i.timestamp, i.order_id or ""))
        keys = list(dict.fromkeys(_basket(i) for i in rows))
        if len(keys) < 2:
            train.extend(rows)
            continue
        held = set(keys[-max(1, round(holdout * len(keys))) :])
        train.extend(i for i in rows if _basket(i) not in held)
        test[customer] = [i for i in rows if _basket(i) in held]
    return Split(train=train, test=test)


def _basket(i: Interaction) -> object:
    return i.order_id if i.order_id is not None else i.timestamp


def evaluate(
    interactions: Sequence[Interaction],
    catalogue: Sequence[CatalogueItem] = (),
    *,
    k: int = 10,
    holdout: float = 0.2,
    half_life_days: float = 7.0,
    repeat_purchases: bool = False,
) -> Report:
    data = split(interactions, holdout)
    has_orders = any(i.order_id is not None for i in interactions)
    customers = _customers(data.train)
    report = Report(
        k=k,
        holdout=holdout,
        interactions=len(interactions),
        customers=len({i.customer for i in interactions}),
        products=len({i.product for i in interactions}),
        test_customers=len(data.test),
    )
    popular, seconds = _timed(lambda: trending.fit(data.train, catalogue, half_life_days=1e9))

    def baseline(customer: Customer) -> list[str]:
        exclude = () if repeat_purchases else customer.purchased
        return [p for p, _ in trending.best_sellers(popular, k=k, exclude=exclude)]

    report.scores.append(
        _score("popularity", baseline, customers, data, repeat_purchases, k, seconds)
    )
    basket_by: bought_together.BasketBy = "order" if has_orders else "timestamp"
    fitters: dict[str, Callable[[], Model] | str] = {
        trending.KIND: lambda: trending.fit(data.train, catalogue, half_life_days=half_life_days),
        people_like_you.KIND: lambda: people_like_you.fit(data.train),
        serving.related.KIND: "n/a: no merchandiser links in interaction data",
        bought_together.KIND: lambda: bought_together.fit(data.train, basket_by=basket_by),
        similar.KIND: (lambda: similar.fit(catalogue)) if catalogue else "n/a: no catalogue",
    }
    recent = trending.fit(data.train, catalogue, half_life_days=half_life_days)
    for kind, fitter in fitters.items():
        if isinstance(fitter, str):
            report.scores.append(Score(kind=kind, note=fitter))
            continue
        model, seconds = _timed(fitter)
        own: list[int] = []
        served = _served_by(kind, {trending.KIND: recent, kind: model}, k, repeat_purchases, own)
        score = _score(kind, served, customers, data, repeat_purchases, k, seconds)
        score.own_share = sum(own) / (k * len(own)) if own else None
        if kind == bought_together.KIND and not has_orders:
            score.note = "baskets: a customer's interactions at the same timestamp"
        report.scores.append(score)
    return report


def _served_by(
    kind: str, models: dict[str, Model], k: int, repeat_purchases: bool, own: list[int]
) -> Callable[[Customer], list[str]]:
    """What serving gives a customer; counts in `own` the slots the kind filled itself."""

    def served(customer: Customer) -> list[str]:
        answer = serving.recommend(
            kind, models, customer=customer, k=k, exclude_purchased=not repeat_purchases
        )
        own.append(sum(p.source == kind for p in answer.picks))
        return [p.product for p in answer.picks]

    return served


def _customers(train: Sequence[Interaction]) -> dict[str, Customer]:
    customers: dict[str, Customer] = defaultdict(Customer)
    for i in sorted(train, key=lambda i: i.timestamp):
        customers[i.customer].history.append(i.product)
        customers[i.customer].purchased.add(i.product)
    return customers


def _score(
    kind: str,
    recommend: Callable[[Customer], list[str]],
    customers: dict[str, Customer],
    data: Split,
    repeat_purchases: bool,
    k: int,
    fit_seconds: float,
) -> Score:
    precision = recall = 0.0
    scored = 0
    for customer_id, held in sorted(data.test.items()):
        customer = customers.get(customer_id, Customer())
        targets = {i.product for i in held}
        if not repeat_purchases:
            targets -= customer.purchased
        if not targets:
            continue
        hits = len(targets.intersection(recommend(customer)))
        precision += hits / k
        recall += hits / len(targets)
        scored += 1
    return Score(
        kind=kind,
        precision=precision / scored if scored else None,
        recall=recall / scored if scored else None,
        customers=scored,
        fit_seconds=round(fit_seconds, 3),
    )


def _timed(fn: Callable[[], Model]) -> tuple[Model, float]:
    started = time.perf_counter()
    model = fn()
    return model, time.perf_counter() - started


def fmt(value: float | None) -> str:
    return "—" if value is None or math.isnan(value) else f"{value:.4f}"
