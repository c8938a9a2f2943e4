"""The crawl stage against the real simulator (crawlers.simulator): full crawl, idempotent
re-crawl, incremental pick-up, malformed page skipped then recovered, captcha block, and a
crawl killed mid-way then resumed from its checkpoint."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from core.config import load_config
from core.models import Window
from core.store import Store

sim_server = pytest.importorskip("crawlers.simulator.server")
sim_corpus = pytest.importorskip("crawlers.simulator.corpus")
from crawlers.simulator.server import Fault, SimulatorServer  # noqa: E402
from crawlers.simulator.corpus import generate  # noqa: E402

from crawlers.stage import crawl  # noqa: E402

REPO = Path(__file__).resolve().parents[2]
END = datetime(2026, 11, 21, 12, 0, tzinfo=timezone(timedelta(hours=8)))
SALT = "test-salt"
N_POSTS = 300
CORPUS_PLATFORMS = ("weibo", "jiazaishenzhen", "szrss")  # the others: tests/crawlers/test_all_platforms.py


@pytest.fixture(scope="module")
def corpus():
    return [post for post, _truth in generate(7, N_POSTS, END)]


def served_ids(corpus, now: datetime, platform: str | None = None) -> set[str]:
    return {f"{p.platform}:{p.native_id}" for p in corpus
            if p.published_at <= now and (platform is None or p.platform == platform)}


def sim_config(sim: SimulatorServer, rate_limit: float = 50):
    config = load_config(REPO / "config")
    return config.with_platforms([
        p.model_copy(update={"base_url": sim.platform_base_url(p.name), "rate_limit": rate_limit,
                             "auth": "none", "auth_env": None})
        for p in config.platforms if p.name in CORPUS_PLATFORMS])


def stored_ids(store: Store) -> set[str]:
    with store.engine.connect() as conn:
        return {row[0] for row in conn.exec_driver_sql("SELECT id FROM posts")}


@pytest.fixture
def store(tmp_path):
    s = Store.open(f"sqlite:///{tmp_path}/radar.db")
    yield s
    s.close()


@pytest.fixture
def server(corpus):
    servers = []

    def start(now=END, faults=None) -> SimulatorServer:
        sim = SimulatorServer(corpus, now, faults=faults or {})
        sim.start()
        servers.append(sim)
        return sim
    yield start
    for sim in servers:
        sim.stop()


@pytest.mark.slow
def test_full_then_idempotent_then_incremental(store, server, corpus):
    earlier = END - timedelta(days=2)
    sim = server(now=earlier)
    config = sim_config(sim)
    window = Window.everything()

    first = crawl(store, config, window, salt=SALT)
    expected = served_ids(corpus, earlier)
    assert stored_ids(store) == expected
    assert first.posts_new == len(expected)
    assert {r.status for r in first.runs} == {"ok"}
    assert {r.platform for r in first.runs} == {"weibo", "jiazaishenzhen", "szrss"}
    assert all(cp.cursor is None and cp.high_water for cp in store.crawl.checkpoints())

    again = crawl(store, config, window, salt=SALT)
    assert again.posts_new == 0
    assert all(r.pages <= 1 for r in again.runs)  # stops at the high-water mark

    sim.set_now(END)
    later = crawl(store, config, window, salt=SALT)
    assert stored_ids(store) == served_ids(corpus, END)
    assert later.posts_new == len(served_ids(corpus, END) - expected)


@pytest.mark.slow
@pytest.mark.parametrize("platform", ["weibo", "jiazaishenzhen", "szrss"])
def test_malformed_page_skipped_then_recovered(store, server, corpus, platform):
    sim = server(faults={platform: Fault("malformed", pages=frozenset({2}))})
    config = sim_config(sim)
    summary = crawl(store, config, Window.everything(), platforms=[platform], salt=SALT)
    (run,) = summary.runs
    assert run.status == "partial" and run.errors == {"parse": 1}
    got, full = stored_ids(store), served_ids(corpus, END, platform)
    assert got < full and len(full - got) <= 20  # only (some of) page 2's posts are missing
    cp = store.crawl.checkpoint(platform, config.platform(platform).queries[0])
    assert cp.cursor is None and cp.high_water is None  # held back: the next run re-reads

    sim.set_fault(platform, None)
    again = crawl(store, config, Window.everything(), platforms=[platform], salt=SALT)
    assert stored_ids(store) == full and again.runs[0].status == "ok"
    assert again.posts_new == len(full - got)
    assert store.crawl.checkpoint(platform, config.platform(platform).queries[0]).high_water


@pytest.mark.parametrize("mode,platform,reason", [
    ("captcha", "jiazaishenzhen", "captcha/slider page at"),
    ("captcha", "weibo", "captcha/slider page at"),
    ("login_wall", "szrss", "redirected to a login page"),
    ("http418", "weibo", "HTTP 418"),
])
def test_block_marks_run_blocked(store, server, mode, platform, reason):
    sim = server(faults={platform: Fault(mode, pages=frozenset({1}))})
    summary = crawl(store, sim_config(sim), Window.everything(), platforms=[platform], salt=SALT)
    (run,) = summary.runs
    assert run.status == "blocked" and reason in run.blocked_reason
    assert not stored_ids(store)


@pytest.mark.slow
def test_killed_then_rerun_resumes_without_loss(tmp_path, store, server, corpus):
    sim = server()
    config = sim_config(sim, rate_limit=5)  # slow enough to kill mid-crawl
    weibo = config.platform("weibo")
    cfg = tmp_path / "platforms.json"
    cfg.write_text(json.dumps([weibo.model_dump()]))
    db = store.engine.url.render_as_string(hide_password=False)
    env = {**os.environ, "RADAR_AUTHOR_SALT": SALT}
    cmd = [sys.executable, "-m", "crawlers.run", "--db", db, "--config-json", str(cfg)]
    proc = subprocess.Popen(cmd, env=env, cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    query = weibo.queries[0]
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        if store.crawl.checkpoint("weibo", query).cursor and stored_ids(store):
            break
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    before = stored_ids(store)
    cp = store.crawl.checkpoint("weibo", query)
    assert cp.cursor and cp.high_water is None and cp.pending_high_water
    full = served_ids(corpus, END, "weibo")
    assert before and before < full

    fast = sim_config(sim).platform("weibo")
    cfg.write_text(json.dumps([fast.model_dump()]))
    rerun = subprocess.run(cmd, env=env, cwd=REPO, capture_output=True, text=True, timeout=60)
    assert rerun.returncode == 0, rerun.stderr
    assert stored_ids(store) == full
    (run,) = [r for r in store.crawl.runs(1)]
    assert run.status == "ok" and run.posts_new == len(full - before)
    done = store.crawl.checkpoint("weibo", query)
    assert done.cursor is None and done.high_water == cp.pending_high_water


@pytest.mark.parametrize("stats,status,errors", [
    ({"radar/pages": 3, "radar/stop_reason": "last_page"}, "ok", {}),
    ({"radar/pages": 50, "radar/stop_reason": "max_pages"}, "partial", {"max_pages_reached": 1}),
    ({"radar/pages": 2, "radar/http_errors/503": 1, "radar/interrupted": "HTTP 503"}, "partial",
     {"http_503": 1}),
    ({"radar/download_errors/ConnectionRefusedError": 1, "radar/interrupted": "x"}, "error",
     {"download_ConnectionRefusedError": 1}),
    ({"radar/pages": 1, "radar/blocked_reason": "HTTP 418 at u"}, "blocked", {}),
])
def test_coverage_record_from_stats(stats, status, errors):
    from crawlers.run import run_record
    run = run_record("weibo", "q", END, stats)
    assert (run.status, run.errors) == (status, errors)


def test_unknown_platform_is_named(store):
    with pytest.raises(KeyError, match="nope"):
        crawl(store, load_config(REPO / "config"), Window.everything(), platforms=["nope"], salt=SALT)
