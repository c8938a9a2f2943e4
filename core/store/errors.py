"""What a store operation raises."""
from __future__ import annotations


class StoreError(Exception):
    """A store operation failed."""


class LeadNotFound(StoreError):
    """No lead with that id."""


class ConcurrencyError(StoreError):
    """The lead changed since it was read (optimistic concurrency)."""
