"""Serving: one kind's recommendations with exclusions, padded by the cold-start chain.

Whatever is missing — no model trained yet, a customer without history, no seeds, unknown
seed products, fewer results than asked — the answer is filled from the next source:
the kind itself → (related: similar products) → trending in the seeds' categories → trending
→ best-sellers → catalogue order. It is never an error; `fallback` says why the kind itself
gave nothing.
"""

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from journeys.recommendations import bought_together, people_like_you, related, similar, trending
from journeys.recommendations.types import Customer, Model, Scored

KINDS = (
    trending.KIND,
    people_like_you.KIND,
    related.KIND,
    bought_together.KIND,
    similar.KIND,
)
SEED_KINDS = (related.KIND, bought_together.KIND, similar.KIND)
HISTORY_SEEDS = 5  # without seeds, a seed kind starts from the customer's last products


@dataclass
class Pick:
    product: str
    score: float
    source: str  # the kind, or the fallback, that chose it


@dataclass
class Served:
    picks: list[Pick] = field(default_factory=list)
    fallback: str | None = None  # why the kind itself answered nothing


def recommend(
    kind: str,
    models: Mapping[str, Model],
    *,
    customer: Customer,
    k: int,
    seeds: Sequence[str] = (),
    category: str | None = None,
    exclude_purchased: bool = True,
    catalogue: Sequence[str] = (),
) -> Served:
    """`models` holds the latest model of each kind there is (related: the live links);
    `catalogue` is the product ids in catalogue order (the last resort)."""
    if kind not in KINDS:
        raise ValueError(f"unknown kind {kind!r}; one of {', '.join(KINDS)}")
    excluded = set(customer.purchased) if exclude_purchased else set()
    if kind in SEED_KINDS and not seeds:
        seeds = customer.recent(HISTORY_SEEDS)
    served = Served()
    chosen: set[str] = set()

    def add(found: Scored, source: str) -> None:
        for product, score in found:
            if len(served.picks) < k and product not in chosen:
                chosen.add(product)
                served.picks.append(Pick(product, score, source))

    primary, served.fallback = _primary(kind, models, customer, k, seeds, category, excluded)
    add(primary, kind)
    skip = excluded | set(seeds)
    if len(served.picks) < k and kind == related.KIND and similar.KIND in models and seeds:
        add(similar.recommend(models[similar.KIND], seeds=seeds, k=k, exclude=skip), similar.KIND)
    if len(served.picks) < k and trending.KIND in models:
        model = models[trending.KIND]
        if kind != trending.KIND and seeds:
            add(trending.recommend(model, k=k, seeds=seeds, exclude=skip | chosen), "trending")
        add(trending.recommend(model, k=k, exclude=skip | chosen), "trending")
        add(trending.best_sellers(model, k=k, exclude=skip | chosen), "best_sellers")
    if len(served.picks) < k:
        add([(p, 0.0) for p in catalogue if p not in skip][: k + len(chosen)], "catalogue")
    return served


def _primary(
    kind: str,
    models: Mapping[str, Model],
    customer: Customer,
    k: int,
    seeds: Sequence[str],
    category: str | None,
    excluded: set[str],
) -> tuple[Scored, str | None]:
    model = models.get(kind)
    if model is None:
        return [], "no links" if kind == related.KIND else "no model trained yet"
    if kind == trending.KIND:
        found = trending.recommend(model, k=k, seeds=seeds, category=category, exclude=excluded)
    elif kind == people_like_you.KIND:
        if not customer.history:
            return [], "no history"
        found = people_like_you.recommend(model, customer=customer, k=k, exclude=excluded)
    elif not seeds:
        return [], "no seed products and no history"
    else:
        module = {
            related.KIND: related,
            bought_together.KIND: bought_together,
            similar.KIND: similar,
        }[kind]
        found = module.recommend(model, seeds=seeds, k=k, exclude=excluded)
    return found, None if found else "nothing found for this customer"
