"""Similar products: TF-IDF over name, description and category, cosine similarity.

Implemented on scipy.sparse (a vocabulary, sublinear term frequency, smoothed IDF, L2 rows) —
a few dozen lines, so no text library is needed. The category counts twice (it is one word
or two, against a description's dozens); terms in more than `max_df` of the products say
nothing and are dropped. Each product's top neighbours are computed in blocks at training.
"""

import re
from collections.abc import Iterable, Sequence

import numpy as np
import scipy.sparse as sp

from journeys.recommendations.neighbours import ItemIndex, best, model_index, neighbour_scores
from journeys.recommendations.types import CatalogueItem, Model, Scored

KIND = "similar"
TOKEN = re.compile(r"[^\W_]{2,}")
STOP_WORDS = frozenset(
    "a an and are as at be by for from has have in is it its of on or that the this to with"
    " your you our we all any can will not no".split()
)
BLOCK = 1024


def tokens(item: CatalogueItem) -> list[str]:
    text = " ".join((item.name, item.description, item.category, item.category)).lower()
    return [t for t in TOKEN.findall(text) if t not in STOP_WORDS]


def vectors(catalogue: Sequence[CatalogueItem], max_df: float = 0.5) -> sp.csr_matrix:
    """The TF-IDF matrix, one L2-normalised row per catalogue item."""
    vocabulary: dict[str, int] = {}
    rows: list[int] = []
    columns: list[int] = []
    for n, item in enumerate(catalogue):
        for token in tokens(item):
            rows.append(n)
            columns.append(vocabulary.setdefault(token, len(vocabulary)))
    counts = sp.csr_matrix(
        (np.ones(len(rows)), (rows, columns)), shape=(len(catalogue), len(vocabulary))
    )
    counts.sum_duplicates()
    documents = len(catalogue)
    df = np.bincount(counts.indices, minlength=len(vocabulary))
    idf = np.log((1 + documents) / (1 + df)) + 1.0
    idf[df > max(10.0, max_df * documents)] = 0.0  # small catalogues keep every term
    counts.data = 1.0 + np.log(counts.data)
    weighted = sp.csr_matrix(counts.multiply(idf[None, :]))
    weighted.eliminate_zeros()
    norms = np.sqrt(np.asarray(weighted.multiply(weighted).sum(axis=1)).ravel())
    norms[norms == 0] = 1.0
    return sp.csr_matrix(weighted.multiply(1.0 / norms[:, None]))


def fit(catalogue: Sequence[CatalogueItem], *, neighbours: int = 50, max_df: float = 0.5) -> Model:
    ids = [item.product_id for item in catalogue]
    matrix = vectors(catalogue, max_df)
    n = len(ids)
    k = max(1, min(neighbours, n - 1))
    index = np.full((n, k), -1, dtype=np.int32)
    score = np.zeros((n, k), dtype=np.float32)
    transposed = matrix.T.tocsc()
    for start in range(0, n, BLOCK):  # a dense block of BLOCK × n scores at a time
        block = (matrix[start : start + BLOCK] @ transposed).toarray()
        for offset, row in enumerate(block):
            row[start + offset] = 0.0
            top = np.argpartition(-row, k - 1)[:k] if n > k else np.arange(n)
            top = top[row[top] > 0]
            top = top[np.lexsort((top, -row[top]))]
            index[start + offset, : len(top)] = top
            score[start + offset, : len(top)] = row[top]
    return Model(
        kind=KIND,
        params={"neighbours": k, "max_df": max_df},
        payload={"products": ids, "index": index, "score": score},
    )


def recommend(model: Model, *, seeds: Sequence[str], k: int, exclude: Iterable[str] = ()) -> Scored:
    """Products whose words are closest to the seeds'; never a seed itself."""
    items: ItemIndex = model_index(model)
    rows = items.rows(seeds)
    scores = neighbour_scores(model.payload["index"], model.payload["score"], rows, None)
    return best(scores, items.ids, k, exclude=[*rows, *items.rows(exclude)])
