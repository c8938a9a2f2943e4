"""Embeddings of enriched posts, each unique normalized text computed once and cached in the store."""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from clustering.embeddings import Embedder
from core.models import EnrichedPost
from core.store import Store

BATCH = 256  # texts per encode + store write: bounded memory, progress survives a crash


def embed_posts(store: Store, embedder: Embedder, posts: Sequence[EnrichedPost],
                batch: int = BATCH) -> np.ndarray:
    """(len(posts), dim) float32 vectors in input order. Posts with equal text hashes share one
    vector; vectors already in the store's cache (for this embedder's name) are not recomputed."""
    out = np.zeros((len(posts), embedder.dim), dtype=np.float32)
    if not posts:
        return out
    rows_by_hash: dict[str, list[int]] = {}
    text_by_hash: dict[str, str] = {}
    for i, ep in enumerate(posts):
        h = text_key(ep)
        rows_by_hash.setdefault(h, []).append(i)
        text_by_hash.setdefault(h, ep.enrichment.normalized_text)

    cached = {h: vec for h, vec in store.posts.get_embeddings(embedder.name, list(rows_by_hash)).items()
              if vec.shape == (embedder.dim,)}  # a vector of another size is recomputed
    for h, vec in cached.items():
        out[rows_by_hash[h]] = vec
    missing = [h for h in rows_by_hash if h not in cached]
    for start in range(0, len(missing), batch):
        hashes = missing[start:start + batch]
        vecs = embedder.encode([text_by_hash[h] for h in hashes])
        store.posts.put_embeddings(embedder.name, list(zip(hashes, vecs)))
        for h, vec in zip(hashes, vecs):
            out[rows_by_hash[h]] = vec
    return out


def text_key(ep: EnrichedPost) -> str:
    """What the cache keys a post's vector by: its normalized text's hash."""
    return ep.enrichment.text_hash or _fallback_hash(ep.enrichment.normalized_text)


def _fallback_hash(text: str) -> str:
    import hashlib
    return hashlib.sha1(text.encode("utf-8", "replace")).hexdigest()
