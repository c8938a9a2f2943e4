"""The `sla` stage of radar_process and the daily report's sla section, without Airflow:
breaches are judged at the window end, recorded once per lead, and only for open leads."""
from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

import pytest

from core.models import Lead, LeadEvent, LeadStatus, PriorityParts, Window
from core.settings import Settings
from core.store import Store
from pipeline import tasks
from pipeline.runner import default_stages
from pipeline.sla_stage import record_sla_breaches
from tests.conftest import T0

DAY_END = T0 + timedelta(hours=12)  # the report's day is [T0 - 12 h, T0 + 12 h)
DAY = (DAY_END - timedelta(days=1), DAY_END)

# id, status, district, category, urgent, due (from T0), claimed_by
LEADS = [
    ("L0000000000a1", LeadStatus.IN_REVIEW, "南山区", "交通运输", True, timedelta(minutes=30), "ana"),
    ("L0000000000a2", LeadStatus.VERIFIED, "福田区", "生态环境", False, timedelta(hours=2), None),
    ("L0000000000a3", LeadStatus.NEW, "南山区", "交通运输", False, timedelta(hours=3), None),
    ("L0000000000b1", LeadStatus.NEW, "南山区", "交通运输", False, timedelta(hours=14), None),  # due after the day
    ("L0000000000c1", LeadStatus.DISPATCHED, "南山区", "交通运输", True, timedelta(minutes=30), None),
    ("L0000000000c2", LeadStatus.REJECTED, "福田区", "生态环境", False, timedelta(hours=2), None),
    ("L0000000000c3", LeadStatus.MERGED, "福田区", "生态环境", False, timedelta(hours=2), None),
]
BREACHED_IN_DAY = {"L0000000000a1", "L0000000000a2", "L0000000000a3"}


@pytest.fixture
def home(tmp_path, monkeypatch):
    monkeypatch.setenv("RADAR_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("DATABASE_URL", raising=False)
    monkeypatch.delenv("RADAR_CONFIG_DIR", raising=False)
    (tmp_path / "home").mkdir()
    store = Store.open(f"sqlite:///{tmp_path / 'home' / 'radar.db'}")
    for lead_id, status, district, category, urgent, due, claimed in LEADS:
        lead = Lead(id=lead_id, status=status, title=f"{district}{category}问题", category=category,
                    district=district, street=None, unit=None, urgent=urgent, priority=0.5,
                    priority_parts=PriorityParts(), post_count=1, platform_count=1, first_seen=T0, last_seen=T0,
                    detected_at=T0, sla_due_at=T0 + due, claimed_by=claimed,
                    claim_expires_at=T0 + timedelta(days=3) if claimed else None,
                    dispatched_at=T0 + timedelta(minutes=20) if status == LeadStatus.DISPATCHED else None)
        store.leads.create(lead, [], LeadEvent(lead_id, "created", "clusterer", T0, {}))
    yield store
    store.close()


def test_sla_is_a_stage_of_the_pass_after_cluster(home):
    names = [name for name, _ in default_stages(Settings())]
    # after cluster (and the index stage, which changes no lead): judged on the leads as left
    assert names[names.index("cluster") + 1:] == ["index", "sla"]


def test_breaches_are_recorded_once_judged_at_the_window_end(home, config):
    window = Window(DAY_END - timedelta(days=30), DAY_END)
    assert record_sla_breaches(home, config, window) == {"breaches_new": 3, "breached_open": 3}
    recorded = {b.lead_id: b for b in home.triage.breaches(DAY[0])}
    assert set(recorded) == BREACHED_IN_DAY  # not dispatched, rejected or merged; not yet due
    first = recorded["L0000000000a1"]
    assert first.recorded_at == DAY_END and first.urgent and first.claimed_by == "ana"
    assert first.status == "in_review" and first.district == "南山区"

    # the Airflow entry point, re-run over the same interval: nothing new, nothing changed
    assert tasks.run_named_stage("sla", None, DAY_END) == {"breaches_new": 0, "breached_open": 3}
    assert home.triage.breaches(DAY[0]) == list(recorded.values())
    assert home.crawl.stage_runs(5)[0].stage == "sla"

    # a later window finds the lead that came due since, and only it
    later = tasks.run_named_stage("sla", None, DAY_END + timedelta(hours=3))
    assert later == {"breaches_new": 1, "breached_open": 4}


def test_the_daily_report_lists_the_days_breaches(home):
    home.triage.record_breaches(DAY_END)  # what radar_process's sla task recorded during the day
    report = tasks.daily_report(*DAY)
    sla = report["sla"]
    assert sla["count"] == 3 and sla["urgent"] == 1
    assert sla["by_district"] == {"南山区": 2, "福田区": 1}
    assert sla["by_category"] == {"交通运输": 2, "生态环境": 1}
    listed = {b["lead_id"]: b for b in sla["breaches"]}
    assert set(listed) == BREACHED_IN_DAY
    assert listed["L0000000000a1"]["claimed_by"] == "ana" and listed["L0000000000a1"]["status"] == "in_review"
    assert listed["L0000000000a1"]["due_at"] == (T0 + timedelta(minutes=30)).isoformat()
    # open leads past their deadline at the day's end, longest overdue first
    open_breached = sla["open_breached"]
    assert open_breached["as_of"] == DAY_END.isoformat() and open_breached["count"] == 3
    assert [lead["id"] for lead in open_breached["leads"]][0] == "L0000000000a1"
    assert open_breached["leads"][0]["minutes_over"] == 690.0
    stored = json.loads(Path(report["path"]).read_text(encoding="utf-8"))
    assert stored["sla"]["count"] == 3


def test_the_daily_report_records_breaches_no_process_run_recorded(home):
    """A quiet day (no crawl, so no radar_process run) still reports its breaches."""
    assert home.triage.breaches(DAY[0]) == []
    assert tasks.daily_report(*DAY)["sla"]["count"] == 3
    again = tasks.daily_report(*DAY)["sla"]  # a re-run reports the same
    assert again["count"] == 3 and len(home.triage.breaches(DAY[0])) == 3
