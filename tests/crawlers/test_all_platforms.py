"""Every configured platform crawled through Scrapy against the simulator, in one child
process (crawlers.stage): the simulator deals the corpus over all platforms (spread mode), so
the union of what every platform stores must be the corpus, with no post lost or twice."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from core.config import load_config
from core.models import Window
from core.store import Store
from crawlers.simulator import platforms as sim_platforms
from crawlers.simulator.corpus import generate
from crawlers.simulator.server import SimulatorServer
from crawlers.stage import crawl

REPO = Path(__file__).resolve().parents[2]
END = datetime(2026, 11, 21, 12, 0, tzinfo=timezone(timedelta(hours=8)))
SALT = "test-salt"
CONFIG = load_config(REPO / "config")
NAMES = [p.name for p in CONFIG.platforms]
# How a platform spells a corpus post's native id (real formats differ).
NATIVE = {"bilibili": "BV{}", "facebook": "1029384756_{}", "szgov_atom": "tag:szgov,2026:{}"}


def expected_ids(corpus, now) -> dict[str, set[str]]:
    pinned = frozenset(p.reposted_native_id for p in corpus if p.reposted_native_id)
    out: dict[str, set[str]] = {n: set() for n in NAMES}
    for p in corpus:
        if p.published_at <= now:
            name = sim_platforms.assign(p, pinned)
            out[name].add(f"{name}:{NATIVE.get(name, '{}').format(p.native_id)}")
    return out


def sim_platform_config(sim: SimulatorServer, names, rate_limit: float = 200):
    """Every platform pointed at the simulator with one query, no auth, no browser unless asked."""
    chosen = []
    for p in CONFIG.platforms:
        if p.name not in names:
            continue
        queries = CONFIG.platform_queries(p)[:1] or ["深圳"]
        chosen.append(p.model_copy(update={
            "base_url": sim.platform_base_url(p.name), "rate_limit": rate_limit, "concurrency": 4,
            "auth": "none", "auth_env": None, "queries": queries, "query_from": [], "max_pages": 1000}))
    return CONFIG.with_platforms(chosen)


@pytest.fixture(scope="module")
def corpus():
    return [p for p, _ in generate(7, 1500, END)]


@pytest.fixture(scope="module")
def crawled(corpus, tmp_path_factory):
    """One crawl of every non-browser platform (one child process); the browser one has its own test."""
    db = tmp_path_factory.mktemp("all") / "radar.db"
    store = Store.open(f"sqlite:///{db}")
    names = [p.name for p in CONFIG.platforms if p.kind != "browser"]
    with SimulatorServer(corpus, END, spread=True) as sim:
        summary = crawl(store, sim_platform_config(sim, names), Window.everything(), salt=SALT)
    with store.engine.connect() as conn:
        rows = [r[0] for r in conn.exec_driver_sql("SELECT id FROM posts")]
    yield summary, rows, store
    store.close()


def test_registry_has_at_least_42_platforms_of_every_kind():
    assert len(NAMES) >= 42
    assert {p.kind for p in CONFIG.platforms} == {"json_api", "html", "rss", "browser"}
    assert set(NAMES) == set(sim_platforms.SOURCE) | {"weibo", "jiazaishenzhen", "szrss"}


@pytest.mark.parametrize("name", [n for n in NAMES if CONFIG.platform(n).kind != "browser"])
def test_platform_crawls_through_scrapy_against_the_simulator(crawled, corpus, name):
    summary, rows, _ = crawled
    runs = [r for r in summary.runs if r.platform == name]
    assert runs and all(r.status == "ok" for r in runs), runs
    want = expected_ids(corpus, END)[name]
    got = {r for r in rows if r.startswith(f"{name}:")}
    assert got == want and want, (name, len(got), len(want))


def test_union_is_the_corpus_with_no_post_twice(crawled, corpus):
    _, rows, _ = crawled
    assert len(rows) == len(set(rows))
    browser = {p.name for p in CONFIG.platforms if p.kind == "browser"}
    want = set().union(*(ids for n, ids in expected_ids(corpus, END).items() if n not in browser))
    assert set(rows) == want
