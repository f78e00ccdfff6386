"""Trending and best-sellers: time-decayed popularity, overall and per category.

A unit sold `age` before the reference time counts 0.5 ** (age / half_life): with a 7-day
half-life, 10 sales last week outweigh 15 sales a month ago. Best-sellers (all-time counts) are
kept alongside, as the next fallback when nothing sold recently.
"""

import math
from collections import defaultdict
from collections.abc import Iterable, Sequence
from itertools import islice

import numpy as np

from journeys.recommendations.types import CatalogueItem, Interaction, Model, Scored

KIND = "trending"
DAY = 86_400.0


def fit(
    interactions: Sequence[Interaction],
    catalogue: Sequence[CatalogueItem] = (),
    *,
    half_life_days: float = 7.0,
    now: float | None = None,
) -> Model:
    """`now` is the reference time (default: the latest interaction)."""
    if half_life_days <= 0:
        raise ValueError("half_life_days must be more than 0")
    reference = now if now is not None else max((i.timestamp for i in interactions), default=0.0)
    decayed: dict[str, float] = defaultdict(float)
    sold: dict[str, float] = defaultdict(float)
    for i in interactions:
        age = max(0.0, reference - i.timestamp)
        decayed[i.product] += i.quantity * math.pow(0.5, age / (half_life_days * DAY))
        sold[i.product] += i.quantity
    category = {item.product_id: item.category for item in catalogue if item.category}
    ranked = _ranked(decayed)
    by_category: dict[str, list[str]] = defaultdict(list)
    for product in ranked:
        if product in category:
            by_category[category[product]].append(product)
    return Model(
        kind=KIND,
        params={"half_life_days": half_life_days, "reference_time": reference},
        payload={
            "products": ranked,
            "scores": np.array([decayed[p] for p in ranked], dtype=np.float64),
            "best_sellers": _ranked(sold),
            "categories": dict(by_category),
            "category_of": category,
        },
    )


def _ranked(scores: dict[str, float]) -> list[str]:
    return [p for p, s in sorted(scores.items(), key=lambda kv: (-kv[1], kv[0])) if s > 0]


def recommend(
    model: Model,
    *,
    k: int,
    seeds: Sequence[str] = (),
    category: str | None = None,
    exclude: Iterable[str] = (),
) -> Scored:
    """The most popular now, in `category` if named, else in the seeds' categories, else all."""
    payload = model.payload
    excluded = set(exclude) | set(seeds)
    categories = [category] if category else []
    if not categories:
        categories = list(dict.fromkeys(c for s in seeds if (c := payload["category_of"].get(s))))
    if "score_of" not in model.derived:
        model.derived["score_of"] = dict(
            zip(payload["products"], payload["scores"].tolist(), strict=True)
        )
    score_of = model.derived["score_of"]
    if categories:
        pool = [p for c in categories for p in payload["categories"].get(c, [])]
        pool.sort(key=lambda p: -score_of[p])
    else:
        pool = payload["products"]
    return [(p, score_of[p]) for p in islice((p for p in pool if p not in excluded), k)]


def best_sellers(model: Model, *, k: int, exclude: Iterable[str] = ()) -> Scored:
    """All-time sales, when nothing is trending."""
    excluded = set(exclude)
    products = islice((p for p in model.payload["best_sellers"] if p not in excluded), k)
    return [(p, 0.0) for p in products]
