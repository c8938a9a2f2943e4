"""The enrich stage: a plain function of (store, config, window), see DESIGN.md.

Contract: `enrich(store, config, window) -> {"posts", "relevant", "truncated", "empty"}`.
Reads `store.iter_posts_to_enrich(window)` (posts never enriched or changed since) and writes
`store.save_enrichments`, an upsert by post id, so a second run over the same window finds
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
    for batch in store.iter_posts_to_enrich(window):
        items = []
        for post in batch:
            e = enricher.enrich(post)
            items.append((post, e))
            counts["relevant"] += e.relevant
            counts["truncated"] += "truncated" in e.reasons
            counts["empty"] += "empty" in e.reasons
        # One batch per transaction: a crash loses at most the batch in flight.
        store.save_enrichments(items)
        counts["posts"] += len(items)
    return counts
