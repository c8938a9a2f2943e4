"""The browser-rendered platform (Dianping): the simulator page builds its reviews with
JavaScript, so a plain fetch sees none; the crawl goes through scrapy-playwright with
Debian's Chromium and stores every review, with the cookie file's contents sent along."""
from __future__ import annotations

import shutil
import urllib.request
from datetime import datetime, timedelta, timezone

import pytest

from core.models import Window
from core.store import Store
from crawlers.settings import CHROMIUM
from crawlers.simulator.corpus import generate
from crawlers.simulator.server import SimulatorServer
from crawlers.stage import crawl
from tests.crawlers.test_all_platforms import expected_ids, sim_platform_config

END = datetime(2026, 11, 21, 12, 0, tzinfo=timezone(timedelta(hours=8)))


@pytest.mark.slow
@pytest.mark.skipif(not shutil.which(CHROMIUM), reason="Debian chromium not installed (scripts/system-deps.sh)")
def test_dianping_renders_in_chromium_and_crawls(tmp_path, monkeypatch):
    corpus = [p for p, _ in generate(7, 1500, END)]
    cookie = tmp_path / "dianping.cookie"
    cookie.write_text("_lxsdk_cuid=abc; dper=secret", encoding="utf-8")
    monkeypatch.setenv("RADAR_DIANPING_COOKIE_FILE", str(cookie))
    store = Store.open(f"sqlite:///{tmp_path}/radar.db")
    with SimulatorServer(corpus, END, spread=True) as sim:
        plain = urllib.request.urlopen(sim.platform_base_url("dianping") + "/shop/shenzhen/review_all?page=1").read()
        assert b'class="review-item"' not in plain  # only the script knows the reviews
        config = sim_platform_config(sim, ["dianping"])
        config = config.with_platforms([p.model_copy(update={"auth": "cookie_file",
                                                             "auth_env": "RADAR_DIANPING_COOKIE_FILE"})
                                        for p in config.platforms])
        (run,) = crawl(store, config, Window.everything(), salt="s").runs
    with store.engine.connect() as conn:
        rows = {r[0] for r in conn.exec_driver_sql("SELECT id FROM posts")}
    want = expected_ids(corpus, END)["dianping"]
    assert run.status == "ok" and run.alarms == [], run
    assert rows == want and len(want) > 20  # more than one page
    store.close()
