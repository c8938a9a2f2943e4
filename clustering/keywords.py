"""Lead keywords by class-based TF-IDF (as in BERTopic's c-TF-IDF): a term ranks high for a
lead when it is frequent in that lead's posts and rare across the other leads."""
from __future__ import annotations

import re
from collections.abc import Mapping, Sequence

import numpy as np
from sklearn.feature_extraction.text import CountVectorizer

# Only runs of CJK characters or letters make readable keywords; digits and punctuation do not.
TERM = re.compile(r"^[\u4e00-\u9fffA-Za-z]+$")


def ctfidf_keywords(classes: Mapping[str, Sequence[str]], top: int = 5) -> dict[str, tuple[str, ...]]:
    """Top `top` char 2-3-gram keywords per class, no keyword inside a better one."""
    ids = [k for k, texts in classes.items() if texts]
    if not ids:
        return {}
    docs = ["\n".join(classes[k]) for k in ids]
    vectorizer = CountVectorizer(analyzer="char", ngram_range=(2, 3))
    counts = vectorizer.fit_transform(docs).astype(np.float64)
    terms = vectorizer.get_feature_names_out()
    readable = np.array([bool(TERM.fullmatch(t)) for t in terms])
    tf = counts.multiply(1.0 / np.maximum(counts.sum(axis=1), 1)).tocsr()
    frequency = np.asarray(counts.sum(axis=0)).ravel()
    avg_words = counts.sum() / len(ids)
    idf = np.log(1 + avg_words / np.maximum(frequency, 1))
    scores = tf.multiply(idf).tocsr()
    out: dict[str, tuple[str, ...]] = {}
    for row, lead_id in enumerate(ids):
        r = scores.getrow(row)
        order = r.indices[np.argsort(-r.data)]
        chosen: list[str] = []
        for col in order:
            if not readable[col]:
                continue
            term = terms[col]
            if any(term in c or c in term for c in chosen):
                continue
            chosen.append(term)
            if len(chosen) == top:
                break
        out[lead_id] = tuple(chosen)
    return out
