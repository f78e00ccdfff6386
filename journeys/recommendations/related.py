"""Related products: links a merchandiser sets (product → related products, in order).

Not learned: `fit` snapshots the links so each training stores a version of them too, and the
API and activities serve the live links from the store (a merchandiser's edit shows at once).
"""

from collections.abc import Iterable, Sequence

from journeys.recommendations.types import Model, Scored

KIND = "related"


def fit(links: Iterable[tuple[str, str, int]]) -> Model:
    """`links`: (product, related product, position); lower positions come first."""
    ordered: dict[str, list[tuple[int, str]]] = {}
    for product, related, position in links:
        ordered.setdefault(product, []).append((position, related))
    return Model(
        kind=KIND,
        params={},
        payload={"links": {p: [r for _, r in sorted(v)] for p, v in sorted(ordered.items())}},
    )


def recommend(model: Model, *, seeds: Sequence[str], k: int, exclude: Iterable[str] = ()) -> Scored:
    """Each seed's links in the merchandiser's order, interleaved across seeds (first link of
    every seed, then the second, ...); a link to a seed or a repeat is skipped."""
    excluded = set(exclude) | set(seeds)
    lists = [model.payload["links"].get(seed, []) for seed in dict.fromkeys(seeds)]
    chosen: list[str] = []
    for rank in range(max((len(x) for x in lists), default=0)):
        for links in lists:
            if rank < len(links) and links[rank] not in excluded and links[rank] not in chosen:
                chosen.append(links[rank])
    return [(p, 1.0 / (1 + rank)) for rank, p in enumerate(chosen[:k])]
