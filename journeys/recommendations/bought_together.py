"""Bought together: co-occurrence in the same basket, scored by lift.

A basket is an order (interactions sharing an order id) or, for data without order ids
(`basket_by="timestamp"`), a customer's interactions at the same instant. For products A and B
in `n_ab` of `n` baskets, lift = n_ab·n / (n_a·n_b): how much more often they go together than
chance. Raw lift favours rare pairs seen once, so pairs need `min_support` baskets and the lift
is damped by `n_ab / (n_ab + shrink)`.
"""

from collections import defaultdict
from collections.abc import Iterable, Sequence
from typing import Literal

import numpy as np
import scipy.sparse as sp

from journeys.recommendations.neighbours import (
    ItemIndex,
    best,
    model_index,
    neighbour_scores,
    top_neighbours,
)
from journeys.recommendations.types import Interaction, Model, Scored

KIND = "bought_together"
BasketBy = Literal["order", "timestamp"]


def baskets(interactions: Sequence[Interaction], basket_by: BasketBy = "order") -> list[set[str]]:
    """Products per basket. With `order`, interactions without an order id (views) are left
    out."""
    grouped: dict[tuple[str, object], set[str]] = defaultdict(set)
    for i in interactions:
        if basket_by == "order":
            if i.order_id is None:
                continue
            grouped[("", i.order_id)].add(i.product)
        else:
            grouped[(i.customer, i.timestamp)].add(i.product)
    return list(grouped.values())


def fit(
    interactions: Sequence[Interaction],
    *,
    basket_by: BasketBy = "order",
    neighbours: int = 50,
    min_support: int = 2,
    shrink: float = 5.0,
) -> Model:
    groups = [b for b in baskets(interactions, basket_by) if b]
    products = ItemIndex(sorted({p for b in groups for p in b}))
    rows = [n for n, b in enumerate(groups) for _ in b]
    columns = [products.position[p] for b in groups for p in b]
    matrix = sp.csr_matrix(
        (np.ones(len(rows)), (rows, columns)), shape=(len(groups), len(products.ids))
    )
    together = (matrix.T @ matrix).tocoo()
    counts = np.asarray(matrix.sum(axis=0)).ravel()
    keep = (together.data >= min_support) & (together.row != together.col)
    rows_, cols_, n_ab = together.row[keep], together.col[keep], together.data[keep]
    lift = n_ab * len(groups) / (counts[rows_] * counts[cols_])
    score = lift * n_ab / (n_ab + shrink)
    table = sp.csr_matrix((score, (rows_, cols_)), shape=together.shape)
    index, scores = top_neighbours(table, neighbours)
    return Model(
        kind=KIND,
        params={
            "basket_by": basket_by,
            "neighbours": neighbours,
            "min_support": min_support,
            "shrink": shrink,
            "baskets": len(groups),
        },
        payload={"products": products.ids, "index": index, "score": scores},
    )


def recommend(model: Model, *, seeds: Sequence[str], k: int, exclude: Iterable[str] = ()) -> Scored:
    """What goes with the seeds (the cart, the viewed product); never a seed itself."""
    items = model_index(model)
    rows = items.rows(seeds)
    scores = neighbour_scores(model.payload["index"], model.payload["score"], rows, None)
    return best(scores, items.ids, k, exclude=[*rows, *items.rows(exclude)])
