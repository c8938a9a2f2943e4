"""Class cases and spikes on a real store (SQLite and PostgreSQL), and `radar trends --json`."""
from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from datetime import datetime, timedelta, timezone

from clustering.trends import trends
from core.models import Enrichment, Lead, LeadEvent, LeadStatus, PriorityParts, Window
from core.store import Store
from tests.conftest import REPO, make_post

END = datetime(2026, 11, 20, 12, 0, tzinfo=timezone.utc)  # a Friday
WINDOW = Window(END - timedelta(days=1), END)


def add_lead(store, lead_id, category, district, first_seen, posts=2):
    lead = Lead(id=lead_id, status=LeadStatus.NEW, title=lead_id, category=category, district=district,
                street=None, unit=None, urgent=False, priority=0.5, priority_parts=PriorityParts(),
                post_count=posts, platform_count=1, first_seen=first_seen, last_seen=first_seen)
    store.leads.create(lead, [], LeadEvent(lead_id, "created", "test", first_seen))


def add_posts(store, prefix, n, at, *, category="城市管理", district="南山区", spread=timedelta(0)):
    items = []
    for i in range(n):
        text = f"{prefix} 第{i}条 路灯不亮"
        post = make_post(f"{prefix}{i}", text, at=at + spread * i)
        items.append((post, Enrichment(post.id, text, True, 0.9, category, district, None,
                                       text_hash=hashlib.sha1(text.encode()).hexdigest())))
    store.posts.upsert([p for p, _ in items])
    store.posts.save_enrichments(items)


def test_a_pair_present_four_weeks_is_a_class_case_and_one_present_once_is_not(store, config):
    for week in range(4):  # this week and the three before
        add_lead(store, f"noise{week}", "生态环境", "南山区", END - timedelta(weeks=week, hours=3), posts=3)
    add_lead(store, "noise0b", "生态环境", "南山区", END - timedelta(hours=5), posts=4)
    for week in range(3):
        add_lead(store, f"road{week}", "交通运输", "福田区", END - timedelta(weeks=week, hours=2), posts=1)
    add_lead(store, "once", "市场监管", "宝安区", END - timedelta(days=1), posts=50)
    add_lead(store, "old", "市场监管", "宝安区", END - timedelta(weeks=20), posts=5)
    add_lead(store, "old2", "市场监管", "宝安区", END - timedelta(weeks=21), posts=5)
    add_lead(store, "later", "市场监管", "宝安区", END + timedelta(hours=1), posts=5)  # after the window end

    report = trends(store, config, WINDOW)
    pairs = [(c.category, c.district) for c in report.class_cases]
    assert pairs == [("生态环境", "南山区"), ("交通运输", "福田区")]  # more weeks first
    noise = report.class_cases[0]
    assert noise.weeks_present == 4 and noise.leads == 5 and noise.posts == 16
    assert len(report.weeks) == 8 and report.weeks[-1] == "2026-W47"
    assert [w.week for w in noise.weeks] == ["2026-W44", "2026-W45", "2026-W46", "2026-W47"]
    json.dumps(report.as_dict(), ensure_ascii=False)  # JSON-safe
    # fewer weeks looked at: only the last two, nothing recurs three times
    assert trends(store, config, WINDOW, weeks=2).class_cases == ()


def test_a_burst_in_the_last_hour_is_a_spike_and_a_steady_rate_is_not(store, config):
    # steady: one post every hour for the last 14 days (福田区)
    add_posts(store, "steady", 14 * 24, END - timedelta(days=14) + timedelta(minutes=30),
              district="福田区", spread=timedelta(hours=1))
    # burst: 8 posts in the last hour after a quiet half day (南山区)
    add_posts(store, "burst", 8, END - timedelta(minutes=50), spread=timedelta(minutes=5))
    add_posts(store, "before", 2, END - timedelta(hours=8))

    report = trends(store, config, WINDOW)
    kinds = {(s.kind, s.district) for s in report.spikes}
    assert ("spike_hour", "南山区") in kinds
    assert not any(s.district == "福田区" for s in report.spikes)
    hour = next(s for s in report.spikes if s.kind == "spike_hour")
    assert hour.count == 8 and abs(hour.baseline - 2 / 12) < 1e-9 and hour.ratio == 8.0
    # the day: 10 posts against nothing in the 14 days before is a day spike too
    assert ("spike_day", "南山区") in kinds
    stored = store.reports.warnings(END - timedelta(days=1))
    assert {(w["kind"], w["district"]) for w in stored} == kinds
    assert all(w["window_end"] == END for w in stored)


def test_too_few_posts_is_no_spike(store, config):
    add_posts(store, "few", 4, END - timedelta(minutes=30))
    assert trends(store, config, WINDOW).spikes == ()
    assert store.reports.warnings(END - timedelta(days=30)) == []


def test_rerunning_stores_no_duplicate_warnings(store, config):
    add_posts(store, "burst", 6, END - timedelta(minutes=40), spread=timedelta(minutes=5))
    first = trends(store, config, WINDOW)
    assert first.spikes
    before = store.reports.warnings(END - timedelta(days=1))
    add_posts(store, "more", 2, END - timedelta(minutes=10))  # a late post changes the count
    again = trends(store, config, WINDOW)
    after = store.reports.warnings(END - timedelta(days=1))
    assert len(after) == len(before) == len(again.spikes)
    assert {w["id"] for w in after} == {w["id"] for w in before}
    assert max(w["count"] for w in after) == 8
    # a later window end is a new warning, the earlier one stays
    trends(store, config, Window(END, END + timedelta(minutes=5)))
    assert len(store.reports.warnings(END - timedelta(days=1))) > len(after)


def test_cli_trends_json(tmp_path):
    home = tmp_path / "home"
    store = Store.open(f"sqlite:///{(home / 'radar.db').resolve()}")
    now = datetime.now(timezone.utc)
    add_posts(store, "burst", 7, now - timedelta(minutes=30), spread=timedelta(minutes=2))
    for week in range(3):
        add_lead(store, f"w{week}", "城市管理", "南山区", now - timedelta(weeks=week, minutes=10))
    store.close()
    env = {**os.environ, "RADAR_HOME": str(home)}
    env.pop("DATABASE_URL", None)
    out = subprocess.run([sys.executable, "-m", "pipeline.cli", "trends", "--json"], capture_output=True,
                         text=True, cwd=REPO, env=env, timeout=120)
    assert out.returncode == 0, out.stderr
    data = json.loads(out.stdout)
    assert set(data) >= {"window_end", "weeks", "class_cases", "spikes"}
    assert [(c["category"], c["district"]) for c in data["class_cases"]] == [("城市管理", "南山区")]
    assert any(s["kind"] == "spike_hour" and s["count"] == 7 for s in data["spikes"])
    tables = subprocess.run([sys.executable, "-m", "pipeline.cli", "trends", "--days", "14"],
                            capture_output=True, text=True, cwd=REPO, env=env, timeout=120)
    assert tables.returncode == 0, tables.stderr
    assert "spike_hour" in tables.stdout


def test_spikes_are_counted_by_the_search_index_when_one_is_given(sqlite_store, config):
    store = sqlite_store  # the embedded index lives in a SQLite store
    from core.models import EnrichedPost
    from core.search.embedded import EmbeddedSearch
    add_posts(store, "burst", 8, END - timedelta(minutes=50), spread=timedelta(minutes=5))  # 南山区
    index = EmbeddedSearch(store)
    # The index holds a burst in 福田区 that the store does not, and not the store's: the
    # report counts what the index says.
    elsewhere = [make_post(f"f{i}", f"福田 第{i}条 井盖丢了", at=END - timedelta(minutes=40 - i)) for i in range(7)]
    index.index_posts([EnrichedPost(p, Enrichment(p.id, p.text, True, 0.9, "城市管理", "福田区", None))
                       for p in elsewhere])
    index.refresh()
    report = trends(store, config, WINDOW, search=index, save=False)
    assert report.spikes_counted_by == "embedded"
    assert {(s.kind, s.district) for s in report.spikes} == {("spike_hour", "福田区"), ("spike_day", "福田区")}
    # once the index is current, it finds what the store finds
    for batch in store.posts.iter_enriched():
        index.index_posts(batch)
    index.refresh()
    by_index = trends(store, config, WINDOW, search=index, save=False)
    assert any(s.district == "南山区" for s in by_index.spikes)
    assert [s for s in by_index.spikes if s.district == "南山区"] == list(trends(store, config, WINDOW, save=False).spikes)


def test_an_unreachable_index_leaves_the_counting_to_the_store(store, config, monkeypatch):
    import socket

    from pipeline.runner import trends_report
    with socket.socket() as s:  # a port nothing listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    monkeypatch.setenv("ELASTICSEARCH_URL", f"http://127.0.0.1:{port}")
    add_posts(store, "burst", 8, END - timedelta(minutes=50), spread=timedelta(minutes=5))
    report = trends_report(store, config, WINDOW)
    assert report.spikes_counted_by.startswith("store (search index unavailable")
    assert ("spike_hour", "南山区") in {(s.kind, s.district) for s in report.spikes}
