"""Top-K neighbour tables: what item-to-item recommenders (people like you, bought together,
similar) precompute at training so that serving is a gather and a sum over a few rows."""

from collections.abc import Iterable, Sequence

import numpy as np
import scipy.sparse as sp

from journeys.recommendations.types import Model


def top_neighbours(similarity: sp.spmatrix, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Each row's `k` best other columns (indices int32, scores float32, best first), padded
    with index -1 and score 0. The diagonal is ignored."""
    matrix = sp.csr_matrix(similarity, dtype=np.float32)
    matrix.setdiag(0)
    matrix.eliminate_zeros()
    n = matrix.shape[0]
    index = np.full((n, k), -1, dtype=np.int32)
    score = np.zeros((n, k), dtype=np.float32)
    indptr, columns, values = matrix.indptr, matrix.indices, matrix.data
    for row in range(n):
        start, end = indptr[row], indptr[row + 1]
        if start == end:
            continue
        row_values, row_columns = values[start:end], columns[start:end]
        if end - start > k:
            keep = np.argpartition(-row_values, k - 1)[:k]
            row_values, row_columns = row_values[keep], row_columns[keep]
        order = np.lexsort((row_columns, -row_values))  # ties: lower index first, stable
        index[row, : len(order)] = row_columns[order]
        score[row, : len(order)] = row_values[order]
    return index, score


def neighbour_scores(
    index: np.ndarray, score: np.ndarray, seeds: Sequence[int], weights: Sequence[float] | None
) -> np.ndarray:
    """Dense scores over all items: the sum of the seeds' neighbour scores, each weighted."""
    n = index.shape[0]
    if not len(seeds):
        return np.zeros(n, dtype=np.float64)
    rows = np.asarray(seeds, dtype=np.int64)
    found, gains = index[rows], score[rows].astype(np.float64)
    if weights is not None:
        gains = gains * np.asarray(weights, dtype=np.float64)[:, None]
    valid = found >= 0
    return np.bincount(found[valid], weights=gains[valid], minlength=n)


def best(
    scores: np.ndarray, ids: Sequence[str], k: int, exclude: Iterable[int] = ()
) -> list[tuple[str, float]]:
    """The `k` highest positive scores (ties: catalogue order), without `exclude`."""
    scores = np.array(scores, dtype=np.float64)
    excluded = np.fromiter(exclude, dtype=np.int64)
    if excluded.size:
        scores[excluded] = 0.0
    candidates = np.flatnonzero(scores > 0)
    if candidates.size > k:
        candidates = candidates[np.argpartition(-scores[candidates], k - 1)[:k]]
    order = candidates[np.lexsort((candidates, -scores[candidates]))]
    return [(ids[i], float(scores[i])) for i in order[:k]]


class ItemIndex:
    """Product id ↔ row number of a model's tables."""

    def __init__(self, ids: Sequence[str]) -> None:
        self.ids = list(ids)
        self.position = {product: i for i, product in enumerate(self.ids)}

    def rows(self, products: Iterable[str]) -> list[int]:
        """Known products' rows, unknown ones dropped (an unknown seed is ignored)."""
        return [self.position[p] for p in products if p in self.position]


def model_index(model: Model) -> ItemIndex:
    """The model's product index, built once per loaded model."""
    if "index" not in model.derived:
        model.derived["index"] = ItemIndex(model.payload["products"])
    index: ItemIndex = model.derived["index"]
    return index
