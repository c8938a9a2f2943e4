"""One engine, and the transaction a unit of work binds it to; the base of every repository."""
from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import AbstractContextManager, nullcontext

from sqlalchemy import Connection, Engine
from sqlalchemy.dialects import postgresql, sqlite

BATCH = 500  # rows per statement: keeps SQLite's variable limit and PostgreSQL round trips sane


def chunks(items: Sequence, size: int = BATCH) -> Iterator[Sequence]:
    for i in range(0, len(items), size):
        yield items[i:i + size]


def sqlite_pragmas(dbapi_conn, _record) -> None:
    """Connect-time settings of every SQLite connection (an engine `connect` listener)."""
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA synchronous=NORMAL")
    cur.execute("PRAGMA foreign_keys=ON")
    cur.execute("PRAGMA busy_timeout=30000")
    cur.close()


class Database:
    """One engine, optionally bound to one open transaction (a unit of work).

    Unbound, `begin()` is a transaction of its own and `connect()` a fresh connection. Bound,
    both hand out the one connection, whose transaction its owner commits or rolls back."""

    def __init__(self, engine: Engine, conn: Connection | None = None):
        self.engine = engine
        self.conn = conn
        self.dialect = engine.dialect.name

    def begin(self) -> AbstractContextManager[Connection]:
        """A connection to write with, committed on leaving unless it belongs to a unit of work."""
        return nullcontext(self.conn) if self.conn is not None else self.engine.begin()

    def connect(self) -> AbstractContextManager[Connection]:
        """A connection to read with; inside a unit of work it sees that work's uncommitted writes."""
        return nullcontext(self.conn) if self.conn is not None else self.engine.connect()

    def insert(self, table):
        return postgresql.insert(table) if self.dialect == "postgresql" else sqlite.insert(table)

    def upsert(self, table, rows: list[dict], keys: list[str], update_cols: list[str] | None = None):
        """(statement, rows) inserting `rows`, on a `keys` conflict updating `update_cols`
        (default: every non-key column; none: the existing row is kept)."""
        stmt = self.insert(table)
        if update_cols is None:
            update_cols = [c.name for c in table.columns if c.name not in keys]
        if update_cols:
            stmt = stmt.on_conflict_do_update(index_elements=keys,
                                              set_={c: stmt.excluded[c] for c in update_cols})
        else:
            stmt = stmt.on_conflict_do_nothing(index_elements=keys)
        return stmt, rows


class Repository:
    """The base of every repository: everything goes through `self.db`, never the engine."""

    def __init__(self, db: Database):
        self.db = db
