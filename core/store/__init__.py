from core.store.db import Database
from core.store.errors import ConcurrencyError, LeadNotFound, StoreError
from core.store.rows import content_hash
from core.store.store import Store, UnitOfWork

__all__ = ["Store", "UnitOfWork", "Database", "StoreError", "LeadNotFound", "ConcurrencyError", "content_hash"]
