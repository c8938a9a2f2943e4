"""Char 1-2-gram TF-IDF vectors that stay comparable across runs.

A vectorizer fitted per run gives every run its own feature space, so a lead's vector from an
earlier run could not be compared with today's posts and each run had to re-vectorize every
member of every candidate lead. Here features are hashed (no vocabulary to fit) and document
frequencies are counts kept in the store and grown by each run's new posts, so a lead's
centroid is saved once and read back next run.
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy import sparse
from sklearn.feature_extraction.text import HashingVectorizer

from core.models import Enrichment

N_FEATURES = 1 << 20  # char bigrams of Chinese text: few collisions at this width
STATE_NAME = "char12_df"

_HASHER = HashingVectorizer(analyzer="char", ngram_range=(1, 2), n_features=N_FEATURES,
                            alternate_sign=False, norm=None, dtype=np.float32)


@dataclass
class DocumentFrequencies:
    """How many clustered posts hold each hashed feature; `docs` posts in all."""

    counts: np.ndarray  # int64, N_FEATURES
    docs: int

    @classmethod
    def empty(cls) -> "DocumentFrequencies":
        return cls(np.zeros(N_FEATURES, dtype=np.int64), 0)

    @classmethod
    def from_bytes(cls, docs: int, payload: bytes) -> "DocumentFrequencies":
        counts = np.frombuffer(payload, dtype="<i8").astype(np.int64)
        if counts.size != N_FEATURES:
            raise ValueError(f"document frequencies hold {counts.size} features, expected {N_FEATURES}")
        return cls(counts, docs)

    def to_bytes(self) -> bytes:
        return self.counts.astype("<i8").tobytes()

    def add(self, counts: sparse.csr_matrix) -> None:
        present = counts.copy()
        present.data[:] = 1
        self.counts += np.asarray(present.sum(axis=0), dtype=np.int64).ravel()
        self.docs += counts.shape[0]

    def idf(self) -> np.ndarray:
        # sklearn's smooth idf, so thresholds tuned on TfidfVectorizer keep their meaning
        return (np.log((1.0 + self.docs) / (1.0 + self.counts)) + 1.0).astype(np.float32)


def what_text(enrichment: Enrichment) -> str:
    """The post's text with the places it names blanked out: where a problem is, is judged by
    district, street and place point; the text says what it is. Left in, a long estate name
    makes a broken lift and a peeling wall there look alike."""
    text = enrichment.normalized_text
    if enrichment.location_spans:
        chars = list(text)
        for start, end in enrichment.location_spans:
            chars[start:end] = " " * (end - start)
        text = "".join(chars)
    # An estate no gazetteer holds stays in the words: measured on the hand-checked real
    # messages, blanking it (and counting it only as the place key) lost most same-estate pairs.
    return text


def term_counts(texts: Sequence[str]) -> sparse.csr_matrix:
    if len(texts) == 0:
        return sparse.csr_matrix((0, N_FEATURES), dtype=np.float32)
    return _HASHER.transform(texts).tocsr()


def weigh(counts: sparse.csr_matrix, idf: np.ndarray) -> sparse.csr_matrix:
    """Sublinear tf × idf, rows scaled to unit length (empty rows stay zero)."""
    m = counts.astype(np.float32, copy=True)
    m.data = (1.0 + np.log(m.data)) * idf[m.indices]
    norms = np.sqrt(np.asarray(m.multiply(m).sum(axis=1)).ravel())
    norms[norms == 0] = 1.0
    return sparse.diags(1.0 / norms).dot(m).tocsr().astype(np.float32)


def combine(rows: sparse.csr_matrix, weights: Sequence[Sequence[tuple[int, float]]]) -> sparse.csr_matrix:
    """One output row per entry of `weights`: the weighted sum of the (row index, weight) it lists.
    With weights 1/n over n unit rows, a centroid: its dot with a unit vector is that vector's
    mean cosine to the rows."""
    r = [g for g, items in enumerate(weights) for _ in items]
    c = [i for items in weights for i, _ in items]
    w = [x for items in weights for _, x in items]
    mix = sparse.csr_matrix((np.asarray(w, dtype=np.float32), (r, c)), shape=(len(weights), rows.shape[0]))
    return (mix @ rows).tocsr()


def to_arrays(row: sparse.csr_matrix) -> tuple[bytes, bytes]:
    row = row.tocsr()
    return row.indices.astype("<i4").tobytes(), row.data.astype("<f4").tobytes()


def from_arrays(indices: bytes, weights: bytes) -> tuple[np.ndarray, np.ndarray]:
    idx = np.frombuffer(indices, dtype="<i4").astype(np.int32)
    val = np.frombuffer(weights, dtype="<f4").astype(np.float32)
    if idx.size != val.size:
        raise ValueError(f"centroid has {idx.size} features but {val.size} weights")
    return idx, val


def stack(rows: Sequence[tuple[np.ndarray, np.ndarray]]) -> sparse.csr_matrix:
    """Centroids read back from the store as one matrix, a row each."""
    indptr = np.zeros(len(rows) + 1, dtype=np.int64)
    indptr[1:] = np.cumsum([len(i) for i, _ in rows])
    indices = np.concatenate([i for i, _ in rows]) if rows else np.zeros(0, dtype=np.int32)
    data = np.concatenate([v for _, v in rows]) if rows else np.zeros(0, dtype=np.float32)
    return sparse.csr_matrix((data, indices, indptr), shape=(len(rows), N_FEATURES))
