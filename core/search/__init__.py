"""Search over posts and leads: one interface (`SearchIndex`), two backends.

`open_search(settings, store)` picks Elasticsearch when ELASTICSEARCH_URL is set, else the
embedded FTS5 index inside the store's SQLite file.
"""
from __future__ import annotations

from core.search.base import SearchIndex
from core.search.errors import IndexingError, SearchError, SearchUnavailable
from core.search.models import LeadHit, PostHit, PostQuery, SearchPage, TrendBucket
from core.settings import Settings
from core.store import Store

__all__ = ["SearchIndex", "SearchError", "IndexingError", "SearchUnavailable", "PostQuery", "PostHit",
           "SearchPage", "LeadHit", "TrendBucket", "open_search"]


# A page waits this long for Elasticsearch, once; the pipeline's stages 30 s, with retries.
INTERACTIVE_TIMEOUT_S = 3.0


def open_search(settings: Settings, store: Store, prefix: str = "radar", *,
                interactive: bool = False) -> SearchIndex:
    """The search index for this setup. Index names start with `prefix` (Elasticsearch only).
    `interactive` (the desk): a cluster that hangs costs a page a few seconds and a 503, not
    minutes of the client's retries."""
    if settings.elasticsearch_url:
        from core.search.elastic import ElasticSearch  # the client loads only when used
        if interactive:
            return ElasticSearch(settings.elasticsearch_url, store=store, prefix=prefix,
                                 request_timeout=INTERACTIVE_TIMEOUT_S, max_retries=0)
        return ElasticSearch(settings.elasticsearch_url, store=store, prefix=prefix)
    from core.search.embedded import EmbeddedSearch
    return EmbeddedSearch(store)
