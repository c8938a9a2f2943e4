"""Zero-shot item matching by description: each catalogue item's profile (name, description,
keywords, examples) as a char 1-2-gram TF-IDF vector; a text goes to the most similar item.

Contract: `ProfileIndex(catalogue).best(text) -> (item_id, cosine) | None`. Used only when no
keyword matched, so it must be cheap per text (one sparse product over ~200 rows), and it
answers only when the best item is clearly ahead: a profile match on two shared characters is
noise, and a wrong item routes to a wrong unit.
"""
from __future__ import annotations

import math
from collections import Counter

import numpy as np
from sklearn.feature_extraction.text import TfidfVectorizer

from core.config import CatalogueFile
from enrichment.text import model_text

MIN_SIMILARITY = 0.12
MIN_MARGIN = 0.02


class ProfileIndex:
    def __init__(self, catalogue: CatalogueFile):
        self._ids: list[str] = []
        docs: list[str] = []
        for c in catalogue.categories:
            for item in c.items:
                self._ids.append(item.id)
                docs.append(model_text(" ".join([item.name, item.description, *item.keywords,
                                                 *item.examples, c.name])))
        # Bigrams carry the Chinese words; unigrams help short texts. idf down-weights the
        # characters every complaint shares (的, 了, 有).
        vectorizer = TfidfVectorizer(analyzer="char", ngram_range=(1, 2), sublinear_tf=True)
        # Columns of the item matrix: a text touches only its own n-grams' columns.
        self._matrix = vectorizer.fit_transform(docs).tocsc()
        self._vocab: dict[str, int] = vectorizer.vocabulary_
        self._idf = vectorizer.idf_

    def best(self, text: str) -> tuple[str, float] | None:
        # The same weighting as TfidfVectorizer.transform, without its per-call overhead
        # (about 10 ms per single text, 100 times this).
        t = model_text(text)
        grams = Counter(t)
        grams.update(t[i:i + 2] for i in range(len(t) - 1))
        cols, weights = [], []
        for gram, tf in grams.items():
            col = self._vocab.get(gram)
            if col is not None:
                cols.append(col)
                weights.append((1.0 + math.log(tf)) * self._idf[col])
        if not cols:
            return None
        w = np.asarray(weights)
        w /= np.linalg.norm(w)
        sims = self._matrix[:, cols] @ w
        order = np.argsort(-sims)[:2]
        top = float(sims[order[0]])
        second = float(sims[order[1]]) if len(order) > 1 else 0.0
        if top < MIN_SIMILARITY or top - second < MIN_MARGIN:
            return None
        return self._ids[int(order[0])], top
