"""The one interface every search backend implements (embedded SQLite FTS5, Elasticsearch).

The contract, checked by tests/search/test_search_contract.py against both:
- `index_posts`/`index_leads` upsert by id: indexing a post twice leaves one document.
- Nothing written is guaranteed visible to reads before `refresh()`.
- `search_posts` matches every word and every quoted phrase (AND), with filters, ordered by
  published_at desc then post id asc; paging with `after` returns each hit exactly once.
- `trends` counts relevant posts per UTC day x district x category in [since, until).
- `count_relevant_posts` counts them per (category, district) in each of several periods.
- `leads_near` returns leads whose point lies within `meters`, nearest first.
- `purge_before(cutoff)` drops posts published before cutoff and nothing else.
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Protocol, runtime_checkable

import numpy as np

from core.models import EnrichedPost, Lead
from core.search.models import LeadHit, PostQuery, SearchPage, TrendBucket


@runtime_checkable
class SearchIndex(Protocol):
    name: str  # "embedded" | "elasticsearch"
    dims: int  # the size of the embeddings it holds (posts, lead centroids)

    def index_posts(self, items: Sequence[EnrichedPost],
                    embeddings: Mapping[str, np.ndarray] | None = None) -> int:
        """Upsert posts (embeddings keyed by post id); returns how many were written."""

    def index_leads(self, leads: Sequence[Lead], centroids: Mapping[str, np.ndarray] | None = None,
                    points: Mapping[str, tuple[float, float]] | None = None) -> int:
        """Upsert leads; a merged lead is removed instead (its posts live on in the lead it
        joined: neither the desk's lead search nor the clusterer's kNN should offer it). A lead's
        point is `points[lead.id]`, else the mean lat/lon of its member posts' enrichments in
        the store (the Lead model carries no point). Returns how many leads were written or removed."""

    def delete_posts(self, ids: Sequence[str]) -> int:
        """Remove posts by id; returns how many were there."""

    def refresh(self) -> None:
        """Make every write so far visible to reads."""

    def reset(self) -> None:
        """Drop and recreate the whole index, empty (for a rebuild)."""

    def search_posts(self, q: PostQuery) -> SearchPage: ...

    def search_leads(self, text: str, size: int = 20) -> list[LeadHit]:
        """Leads whose title or keywords hold every word of `text`, highest priority first."""

    def trends(self, since: datetime, until: datetime) -> list[TrendBucket]: ...

    def count_relevant_posts(self, periods: Sequence[tuple[datetime, datetime]]) -> dict[tuple[str, str], list[int]]:
        """Relevant posts per (category, district) published in each [start, end) of `periods`
        (which may overlap), as the store's reports.count_relevant_posts counts them: posts with
        no category or district left out, pairs with no post in any period too. Spikes read it."""

    def leads_near(self, lat: float, lon: float, meters: float, size: int = 20) -> list[LeadHit]: ...

    def candidate_leads(self, vector: np.ndarray, *, district: str | None = None,
                        category: str | None = None, since: datetime | None = None,
                        k: int = 10) -> list[LeadHit]:
        """The k leads whose centroid is most similar (cosine) to `vector`, among leads in the
        district and category (when given) seen since `since`; `score` holds the similarity."""

    def candidate_leads_many(self, vectors: np.ndarray, districts: Sequence[str | None], *,
                             since: datetime | None = None, k: int = 10) -> list[list[LeadHit]]:
        """`candidate_leads` for each row of `vectors` with its district (None: any), in one
        round trip where the backend allows: the clusterer asks for a whole batch of posts."""

    def purge_before(self, cutoff: datetime) -> int: ...

    def count_posts(self) -> int: ...

    def close(self) -> None: ...
