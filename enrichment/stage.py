"""The enrich stage: a plain function of (store, config, window), see DESIGN.md.

Contract: `enrich(store, config, window) -> {"posts", "relevant", "truncated", "empty"}`.
Reads `store.posts.to_enrich(window)` (posts never enriched or changed since) and writes
`store.posts.save_enrichments`, an upsert by post id, so a second run over the same window finds
nothing to do and a crashed run resumes where it stopped.
"""
from __future__ import annotations

from core.config import Config
from core.models import Window
from core.store import Store
from enrichment.enricher import Enricher


def enrich(store: Store, config: Config, window: Window, enricher: Enricher | None = None) -> dict[str, int]:
    """Enrich every post in the window that needs it; returns counts."""
    enricher = enricher or Enricher(config)
    counts = {"posts": 0, "relevant": 0, "truncated": 0, "empty": 0}
    for batch in store.posts.to_enrich(window):
        # Originals first, so a repost in the same batch can inherit from its original; the
        # rest are looked up among posts enriched by earlier batches or runs.
        wanted = {p.reposted_id for p in batch if p.reposted_id}
        known = {ep.id: ep.enrichment for ep in store.posts.enriched(sorted(wanted))} if wanted else {}
        items = []
        for post in sorted(batch, key=lambda p: p.reposted_id is not None):
            e = enricher.enrich(post, known.get(post.reposted_id) if post.reposted_id else None)
            known[post.id] = e
            items.append((post, e))
            counts["relevant"] += e.relevant
            counts["truncated"] += "truncated" in e.reasons
            counts["empty"] += "empty" in e.reasons
        # One batch per transaction: a crash loses at most the batch in flight.
        store.posts.save_enrichments(items)
        counts["posts"] += len(items)
    return counts
