"""People like you: item-item collaborative filtering on implicit feedback.

Training builds the customer × product matrix (1 for a purchase; views add a fraction, capped
at 1), the cosine similarity of product columns with shrinkage (`|A∩B| / (√|A|·√|B| + shrink)`,
so a pair seen together by two customers does not outrank one seen by two hundred), and keeps
each product's top neighbours. Serving sums the neighbours of the customer's products: a few
array gathers, whatever the catalogue size. Chosen over EASE (a dense n×n inverse: 800 MB and
minutes for 10,000 products) and ALS (needs a solve per customer at serving time or stored
customer factors that go stale between trainings).
"""

from collections import defaultdict
from collections.abc import Iterable, Sequence

import numpy as np
import scipy.sparse as sp

from journeys.recommendations.neighbours import (
    ItemIndex,
    best,
    model_index,
    neighbour_scores,
    top_neighbours,
)
from journeys.recommendations.types import Customer, Interaction, Model, Scored

KIND = "people_like_you"


def fit(
    interactions: Sequence[Interaction], *, neighbours: int = 50, shrink: float = 10.0
) -> Model:
    strength: dict[tuple[str, str], float] = defaultdict(float)
    for i in interactions:
        strength[(i.customer, i.product)] += i.quantity
    customers = ItemIndex(sorted({c for c, _ in strength}))
    products = ItemIndex(sorted({p for _, p in strength}))
    rows = [customers.position[c] for c, _ in strength]
    columns = [products.position[p] for _, p in strength]
    values = np.minimum(1.0, np.fromiter(strength.values(), dtype=np.float64, count=len(strength)))
    matrix = sp.csr_matrix((values, (rows, columns)), shape=(len(customers.ids), len(products.ids)))
    co = (matrix.T @ matrix).tocsr()
    norms = np.sqrt(np.asarray(matrix.multiply(matrix).sum(axis=0)).ravel())
    co = co.tocoo()
    similarity = co.data / (norms[co.row] * norms[co.col] + shrink)
    table = sp.csr_matrix((similarity, (co.row, co.col)), shape=co.shape)
    index, score = top_neighbours(table, neighbours)
    return Model(
        kind=KIND,
        params={"neighbours": neighbours, "shrink": shrink},
        payload={"products": products.ids, "index": index, "score": score},
    )


def recommend(
    model: Model, *, customer: Customer, k: int, exclude: Iterable[str] = (), history: int = 20
) -> Scored:
    """Products most like the customer's last `history` distinct ones; nothing for a customer
    without known products (the caller falls back)."""
    items = model_index(model)
    seeds = items.rows(customer.recent(history))
    scores = neighbour_scores(model.payload["index"], model.payload["score"], seeds, None)
    return best(scores, items.ids, k, exclude=items.rows(exclude))
