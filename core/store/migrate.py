"""Run Alembic migrations programmatically: `Store.open` calls `upgrade` on every start."""
from __future__ import annotations

import fcntl
from contextlib import contextmanager
from pathlib import Path

from alembic import command
from alembic.config import Config as AlembicConfig
from sqlalchemy import Engine, text

MIGRATIONS = Path(__file__).resolve().parents[1] / "migrations"


def alembic_config(engine: Engine) -> AlembicConfig:
    cfg = AlembicConfig()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.set_main_option("sqlalchemy.url", engine.url.render_as_string(hide_password=False).replace("%", "%%"))
    return cfg


# Any constant: the key of the PostgreSQL advisory lock migrators take in turn.
MIGRATION_LOCK = 0x7261646172  # "radar"


def upgrade(engine: Engine, revision: str = "head") -> None:
    """Migrate to `revision`, one process at a time: a fresh database opened by several
    processes at once (Airflow's mapped crawl tasks on their first run) is migrated by the
    first; the others wait, then find it at head. Otherwise two would both create the tables."""
    cfg = alembic_config(engine)
    with _one_at_a_time(engine), engine.begin() as conn:
        if engine.dialect.name == "postgresql":
            conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": MIGRATION_LOCK})
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, revision)


@contextmanager
def _one_at_a_time(engine: Engine):
    """An exclusive lock on a file beside a SQLite database (PostgreSQL locks in the transaction)."""
    database = engine.url.database if engine.dialect.name == "sqlite" else None
    if not database or database == ":memory:":
        yield
        return
    with open(f"{database}.migrate-lock", "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)
