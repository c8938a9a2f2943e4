from core.store.store import ConcurrencyError, LeadNotFound, Store, StoreError, content_hash

__all__ = ["Store", "StoreError", "LeadNotFound", "ConcurrencyError", "content_hash"]
