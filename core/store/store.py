"""The store: repositories per aggregate over one engine, SQLite by default, PostgreSQL at scale.

`store.posts`, `store.leads`, `store.crawl` and `store.reports` each write in a transaction
of their own. Writes that must commit together go through one `store.unit_of_work()`, whose
repositories share a single transaction.
"""
from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy import Engine, create_engine, event

from core.store.crawl import CrawlRepository
from core.store.db import Database, sqlite_pragmas
from core.store.forget import ForgetRepository
from core.store.leads import LeadRepository
from core.store.posts import PostRepository
from core.store.reports import ReportRepository
from core.store.triage import TriageRepository
from core.store.users import UserRepository
from core.store.orders import OrderRepository


class Repositories:
    """The repositories over one Database."""

    def __init__(self, db: Database):
        self.db = db
        self.posts = PostRepository(db)
        self.leads = LeadRepository(db)
        self.crawl = CrawlRepository(db)
        self.reports = ReportRepository(db)
        self.triage = TriageRepository(db)
        self.users = UserRepository(db)
        self.orders = OrderRepository(db)
        self.forget = ForgetRepository(db)


class UnitOfWork(Repositories):
    """Repositories bound to one transaction: everything done through it commits together or not at all."""


class Store(Repositories):
    """All persistent state. Open with `Store.open(url)`, which migrates to the latest schema."""

    def __init__(self, engine: Engine):
        super().__init__(Database(engine))
        self.engine = engine

    @classmethod
    def open(cls, url: str, migrate: bool = True) -> "Store":
        if url.startswith("sqlite:///"):
            Path(url.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
            engine = create_engine(url, connect_args={"timeout": 30})
            event.listen(engine, "connect", sqlite_pragmas)
        else:
            engine = create_engine(url, pool_pre_ping=True)
        store = cls(engine)
        if migrate:
            store.migrate()
        return store

    def migrate(self) -> None:
        from core.store.migrate import upgrade
        upgrade(self.engine)

    def close(self) -> None:
        self.engine.dispose()

    @property
    def backend(self) -> str:
        return self.engine.dialect.name

    @contextmanager
    def unit_of_work(self) -> Iterator[UnitOfWork]:
        """Commits when the block ends, rolls everything back if it raises."""
        with self.engine.begin() as conn:
            yield UnitOfWork(Database(self.engine, conn))
