"""Migrations on a fresh database that several processes open at once (Airflow's mapped crawl
tasks on their first run): one migrates, the others wait and find it at head."""
from __future__ import annotations

import multiprocessing as mp
import os

import pytest
from sqlalchemy import create_engine, text

from core.store import Store
from tests.conftest import POSTGRES_URL, _postgres_reachable

OPENERS = 4


def _open(url: str, barrier, errors) -> None:
    barrier.wait()
    try:
        Store.open(url).close()
    except Exception as exc:  # noqa: BLE001 - reported to the test
        errors.put(f"{type(exc).__name__}: {str(exc).splitlines()[0]}")


def _open_at_once(url: str) -> list[str]:
    ctx = mp.get_context("fork")
    barrier, errors = ctx.Barrier(OPENERS), ctx.Queue()
    procs = [ctx.Process(target=_open, args=(url, barrier, errors)) for _ in range(OPENERS)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(120)
    found = []
    while not errors.empty():
        found.append(errors.get())
    assert all(p.exitcode == 0 for p in procs)
    return found


def _at_head(url: str) -> None:
    store = Store.open(url, migrate=False)
    with store.engine.connect() as conn:
        versions = conn.execute(text("SELECT version_num FROM alembic_version")).scalars().all()
    store.close()
    from alembic.script import ScriptDirectory

    from core.store.migrate import alembic_config
    head = ScriptDirectory.from_config(alembic_config(create_engine(url))).get_current_head()
    assert versions == [head]


@pytest.mark.parametrize("attempt", range(3))
def test_sqlite_opened_by_several_processes_at_once(tmp_path, attempt):
    url = f"sqlite:///{tmp_path}/fresh.db"
    assert _open_at_once(url) == []
    _at_head(url)


@pytest.mark.postgres
def test_postgresql_opened_by_several_processes_at_once():
    reason = _postgres_reachable()
    if reason is not None:
        if os.environ.get("RADAR_REQUIRE_POSTGRES") == "1":
            pytest.fail(f"PostgreSQL is required here but unreachable: {reason}")
        pytest.skip(f"PostgreSQL not reachable: {reason}")
    engine = create_engine(POSTGRES_URL)
    with engine.begin() as conn:
        conn.execute(text("DROP SCHEMA public CASCADE"))
        conn.execute(text("CREATE SCHEMA public"))
    engine.dispose()
    assert _open_at_once(POSTGRES_URL) == []
    _at_head(POSTGRES_URL)
