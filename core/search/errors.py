"""The search package's errors: bad input is the caller's to fix, the rest is the backend's."""
from __future__ import annotations


class SearchError(ValueError):
    """A query the index refuses: empty, too long, a size out of range, a malformed cursor."""


class IndexingError(RuntimeError):
    """Documents the backend would not take even after retries; `ids` names every one of them."""

    def __init__(self, message: str, ids: list[str]):
        super().__init__(f"{message}: {', '.join(ids[:20])}{' ...' if len(ids) > 20 else ''}")
        self.ids = ids


class SearchUnavailable(RuntimeError):
    """No backend can serve this setup (e.g. a PostgreSQL store without ELASTICSEARCH_URL)."""
