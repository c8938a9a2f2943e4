"""The `pipeline.tasks` functions the DAGs call, without Airflow: fast checks of their rules."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone
from types import SimpleNamespace

import pytest

from core.models import CrawlRun
from pipeline import tasks

END = datetime(2026, 11, 21, 12, tzinfo=timezone.utc)


@pytest.fixture
def radar_env(tmp_path, monkeypatch):
    monkeypatch.setenv("RADAR_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("DATABASE_URL", raising=False)
    monkeypatch.delenv("RADAR_CONFIG_DIR", raising=False)
    return tmp_path / "home"


def _fake_crawl(status: str, reason: str | None = None):
    def crawl(store, config, window, *, platforms, salt):
        from crawlers.stage import CrawlSummary
        run = CrawlRun(platforms[0], "q", END, END, status, pages=0 if status == "error" else 3,
                       posts_new=0 if status == "error" else 5, blocked_reason=reason,
                       errors={"http_500": 3} if status == "error" else {})
        store.crawl.record_run(run)
        return CrawlSummary([run], run.posts_new, 0)
    return crawl


def test_blocked_platform_returns_its_coverage_and_an_error_raises(radar_env, monkeypatch):
    import crawlers.stage
    name = tasks.list_enabled_platforms()[0]
    monkeypatch.setattr(crawlers.stage, "crawl", _fake_crawl("blocked", "captcha/slider page at x"))
    result = tasks.crawl_platform(name, None, END)
    assert result["status"] == "blocked" and result["queries"][0]["blocked_reason"].startswith("captcha")

    monkeypatch.setattr(crawlers.stage, "crawl", _fake_crawl("error", "HTTP 500"))
    with pytest.raises(tasks.PlatformCrawlError, match=name):
        tasks.crawl_platform(name, None, END)
    coverage = tasks.crawl_coverage([name, "never_ran"], END - timedelta(minutes=1))
    assert coverage["platforms"][name]["status"] == "error"  # newest record per query wins
    assert coverage["platforms"]["never_ran"]["status"] == "not_run"


def test_unknown_platform_is_named():
    with pytest.raises(KeyError, match="nope"):
        tasks.crawl_platform("nope", None, END)


def test_window_end_is_a_property_of_the_run_never_now():
    assert tasks.window_end(END) == END
    later = END + timedelta(hours=3)
    events = {"radar://posts": [SimpleNamespace(timestamp=later, extra={"window_end": END.isoformat()}),
                                SimpleNamespace(timestamp=later, extra={})]}
    assert tasks.window_end(None, events, run_after=END - timedelta(days=1)) == later
    assert tasks.window_end(None, [(later, {"window_end": END.isoformat()})]) == END
    assert tasks.window_end(None, (), run_after=END) == END
    with pytest.raises(ValueError):
        tasks.window_end(None, ())


def test_pools_one_per_enabled_platform(radar_env):
    pools = tasks.platform_pools()
    assert set(pools) == {f"radar_{n}" for n in tasks.list_enabled_platforms()}
    assert all(p["slots"] == 1 for p in pools.values())
