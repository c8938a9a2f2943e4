"""Fault modes, all in one crawl (one child process): 429 with Retry-After, a burst of 500s,
a timeout, truncated JSON, a changed HTML layout, a captcha page, HTTP 461 and a login wall.
The crawl finishes, each coverage record carries the right counters, alarms or block reason,
and a second, fault-free crawl ends with every post stored exactly once."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from core.models import Window
from core.store import Store
from crawlers.simulator.corpus import generate
from crawlers.simulator.server import Fault, SimulatorServer
from crawlers.stage import crawl
from tests.crawlers.test_all_platforms import CONFIG, expected_ids, sim_platform_config

END = datetime(2026, 11, 21, 12, 0, tzinfo=timezone(timedelta(hours=8)))
FAULTS = {
    "douyin": Fault("http429", times=2, retry_after=1),
    "bilibili": Fault("http500", times=3),
    "xiaohongshu": Fault("slow", times=1, delay=2.5),
    "toutiao": Fault("truncated", pages=frozenset({1})),
    "tieba": Fault("layout_changed", pages=frozenset({1})),
    "heimao": Fault("captcha"),
    "zhihu": Fault("http461"),
    "aoyi": Fault("login_wall"),
}


@pytest.mark.slow
def test_fault_modes_end_in_the_right_coverage_records(tmp_path):
    corpus = [p for p, _ in generate(5, 1200, END)]
    store = Store.open(f"sqlite:///{tmp_path}/radar.db")
    with SimulatorServer(corpus, END, spread=True, faults={k: Fault(**vars(v)) for k, v in FAULTS.items()}) as sim:
        config = sim_platform_config(sim, FAULTS)
        config = config.with_platforms([p.model_copy(update={"timeout_seconds": 1.0}) if p.name == "xiaohongshu"
                                        else p for p in config.platforms])
        first = {r.platform: r for r in crawl(store, config, Window.everything(), salt="s").runs}
        assert first["douyin"].status == "ok" and first["douyin"].errors == {"retried_http_429": 2}
        assert first["bilibili"].status == "ok" and first["bilibili"].errors == {"retried_http_500": 3}
        assert first["xiaohongshu"].status == "ok" and first["xiaohongshu"].errors == {"retried_timeout": 1}, first["xiaohongshu"]
        assert first["toutiao"].status == "partial" and first["toutiao"].errors == {"parse": 1}
        assert first["tieba"].status == "partial" and first["tieba"].posts_new == 0
        assert any(a.startswith("parser_broken") for a in first["tieba"].alarms)
        assert first["heimao"].status == "blocked" and "captcha" in first["heimao"].blocked_reason
        assert first["zhihu"].status == "blocked" and "HTTP 461" in first["zhihu"].blocked_reason
        assert first["aoyi"].status == "blocked" and "login" in first["aoyi"].blocked_reason

        for name in FAULTS:
            sim.set_fault(name, None)
        again = {r.platform: r for r in crawl(store, config, Window.everything(), salt="s").runs}
        assert {r.status for r in again.values()} == {"ok"}
    with store.engine.connect() as conn:
        rows = [r[0] for r in conn.exec_driver_sql("SELECT id FROM posts")]
    want = expected_ids(corpus, END)
    assert len(rows) == len(set(rows))
    assert set(rows) == set().union(*(want[n] for n in FAULTS))
    store.close()
