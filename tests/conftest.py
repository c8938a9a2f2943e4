"""Shared fixtures: the repository config, stores on SQLite (always) and PostgreSQL (when
reachable; CI sets RADAR_REQUIRE_POSTGRES=1 so a skip becomes a failure)."""
from __future__ import annotations

import os
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from core.config import load_config
from core.models import Engagement, Post
from core.store import Store

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = REPO.parent / "shared" / "data"
POSTGRES_URL = os.environ.get("RADAR_TEST_POSTGRES_URL",
                              "postgresql+psycopg://radar:radar@127.0.0.1:5432/radar_test")
T0 = datetime(2026, 11, 20, 12, 0, tzinfo=timezone.utc)


@pytest.fixture(scope="session")
def config():
    return load_config(REPO / "config")


@pytest.fixture
def sqlite_store(tmp_path):
    store = Store.open(f"sqlite:///{tmp_path}/radar.db")
    yield store
    store.close()


def _postgres_reachable() -> str | None:
    try:
        engine = create_engine(POSTGRES_URL)
        with engine.connect() as conn:
            conn.execute(text("SELECT 1"))
        engine.dispose()
        return None
    except Exception as exc:  # noqa: BLE001 - any failure means "not reachable"
        return str(exc).splitlines()[0]


def _fresh_postgres_store() -> Store:
    engine = create_engine(POSTGRES_URL)
    with engine.begin() as conn:
        conn.execute(text("DROP SCHEMA public CASCADE"))
        conn.execute(text("CREATE SCHEMA public"))
    engine.dispose()
    return Store.open(POSTGRES_URL)


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def store(request, tmp_path):
    """The same test against every backend."""
    if request.param == "sqlite":
        s = Store.open(f"sqlite:///{tmp_path}/radar.db")
    else:
        reason = _postgres_reachable()
        if reason is not None:
            if os.environ.get("RADAR_REQUIRE_POSTGRES") == "1":
                pytest.fail(f"PostgreSQL is required here but unreachable: {reason}")
            pytest.skip(f"PostgreSQL not reachable at {POSTGRES_URL}: {reason}")
        s = _fresh_postgres_store()
    yield s
    s.close()


def make_post(native_id: str, text: str, *, platform: str = "weibo", at: datetime = T0,
              title: str | None = None, likes: int = 0, reposted_id: str | None = None) -> Post:
    return Post(platform=platform, native_id=native_id, url=f"https://example.test/{platform}/{native_id}",
                author_hash="a" * 24, author_name=f"user{native_id}", title=title, text=text,
                published_at=at, crawled_at=at + timedelta(minutes=5),
                engagement=Engagement(likes=likes), reposted_id=reposted_id)
