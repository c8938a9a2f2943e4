"""The embed stage: encode the posts the next cluster run will place, before it runs.

Encoding is most of what clustering with the embedding model costs (about 70 short posts a
second on 2 cores, against well over a thousand for the rest of the cluster stage), and unlike
clustering it needs nothing but the post: `shards` tasks can encode a window side by side, on
as many Celery workers as there are, each taking the texts whose hash falls in its shard. The
cluster stage then finds the vectors in the store's cache (clustering.embedding_cache) and
encodes only what this stage missed, so running it is never required for correct leads.
"""
from __future__ import annotations

import zlib

from clustering.embedding_cache import embed_posts, text_key
from clustering.embeddings import Embedder, configured_embedder
from core.config import Config
from core.models import Window
from core.store import Store


def shard_of(key: str, shards: int) -> int:
    """The shard a text hash belongs to: stable across processes and machines."""
    return zlib.crc32(key.encode()) % shards


def embed(store: Store, config: Config, window: Window, *, shard: int = 0, shards: int = 1,
          embedder: Embedder | None = None) -> dict[str, int]:
    """Encode into the cache the relevant posts of `window` that no lead holds yet (those the
    next cluster run places), the unique texts of shard `shard` of `shards` only. Returns
    {"posts", "texts", "encoded"}: posts of this shard, their unique texts, texts encoded now
    (the rest were cached). Nothing is loaded when clustering runs on words only."""
    if shards < 1 or not 0 <= shard < shards:
        raise ValueError(f"shard {shard} of {shards}: need shards >= 1 and 0 <= shard < shards")
    if config.radar.clustering.embedding_weight <= 0:
        return {"posts": 0, "texts": 0, "encoded": 0}
    if embedder is None:
        embedder = configured_embedder()
    mine = [ep for ep in store.posts.unassigned_relevant(window, True) if shard_of(text_key(ep), shards) == shard]
    keys = sorted({text_key(ep) for ep in mine})
    cached = {k for k, vec in store.posts.get_embeddings(embedder.name, keys).items() if vec.shape == (embedder.dim,)}
    # Length-sorted: a batch of similar lengths pads least.
    embed_posts(store, embedder, sorted(mine, key=lambda ep: len(ep.enrichment.normalized_text)))
    return {"posts": len(mine), "texts": len(keys), "encoded": len(keys) - len(cached)}
