"""radar_delivery: the DAG file parses fast and light and has the wired structure (a mapped
delivery per target in its own pool, then the status pull); one `dag.test()` against a reference
work-order system delivers every order once and brings statuses back. Without Airflow: the task
functions' rules (sync windows, unusable targets, pools) and the daily report's work orders."""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
import yaml

from core.models import Enrichment, Lead, LeadEvent, LeadStatus, PriorityParts, Window
from core.orders import OrderStatus, StatusUpdate, order_id_for
from core.store import Store
from pipeline import tasks
from tests.conftest import REPO, T0, make_post
from tests.delivery.sample_order import sample_order

DAGS = REPO / "dags"
TARGETS = ["city12345", "district_webhook", "integration_pull"]  # config/delivery.yaml, in file order


@pytest.fixture
def radar_env(tmp_path, monkeypatch):
    monkeypatch.setenv("RADAR_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("DATABASE_URL", raising=False)
    monkeypatch.delenv("RADAR_CONFIG_DIR", raising=False)
    (tmp_path / "home").mkdir()
    return tmp_path / "home"


# --- the task functions, without Airflow ---------------------------------------------------------

def test_targets_and_pools_come_from_delivery_yaml(radar_env):
    from pipeline.airflow_policy import MAPPED_POOLS, pool_for_target
    assert tasks.list_delivery_targets() == TARGETS
    pools = tasks.delivery_pools()
    assert set(pools) == {f"radar_wo_{n}" for n in TARGETS} and all(p["slots"] == 1 for p in pools.values())
    everything = tasks.airflow_pools()
    assert set(pools) < set(everything) and set(tasks.platform_pools()) < set(everything)
    upstream, pool_of = MAPPED_POOLS[("radar_delivery", "deliver_target")]
    assert upstream == "enabled_targets" and pool_of is pool_for_target


def test_deliver_target_names_an_unknown_or_unusable_target(radar_env, monkeypatch):
    end = datetime.now(timezone.utc)
    with pytest.raises(KeyError, match="nope"):
        tasks.deliver_target("nope", None, end)
    monkeypatch.delenv("RADAR_WO_API_KEY", raising=False)
    with pytest.raises(tasks.DeliveryTargetUnusable, match="RADAR_WO_API_KEY"):
        tasks.deliver_target("city12345", end, end)
    # a pull target needs no secret: its orders are queued for the integration to read
    assert tasks.deliver_target("integration_pull", end, end) == {"target": "integration_pull", "pending": 0,
                                                                  "dead": 0}


def test_sync_window_reaches_back_to_the_last_successful_run(radar_env, monkeypatch):
    import lazy_object_proxy

    from delivery import stage
    seen: list[Window] = []

    def fake_sync(store, config, window, **kw):
        seen.append(window)
        return {"targets_unusable": 0, "targets_failed": 0, "applied": 2}

    monkeypatch.setattr(stage, "sync_status", fake_sync)
    end = datetime(2026, 12, 4, 8, 0, tzinfo=timezone.utc)
    # a cron trigger's interval is empty (start == end): one schedule interval back
    assert tasks.sync_orders(end, end)["applied"] == 2
    assert seen[-1] == Window(end - timedelta(minutes=5), end)
    # Airflow's lazy proxy of "no successful run yet"
    tasks.sync_orders(end - timedelta(minutes=5), end, lazy_object_proxy.Proxy(lambda: None))
    assert seen[-1] == Window(end - timedelta(minutes=5), end)
    # runs failed (or were skipped) for an hour: the pull starts where the last success ended
    hour_ago = lazy_object_proxy.Proxy(lambda: end - timedelta(hours=1))
    assert tasks.sync_orders(end - timedelta(minutes=5), end, hour_ago)["since"] == (end - timedelta(hours=1)).isoformat()
    # ... but no further back than SYNC_MAX_LOOKBACK
    tasks.sync_orders(end - timedelta(minutes=5), end, end - timedelta(days=30))
    assert seen[-1].start == end - tasks.SYNC_MAX_LOOKBACK

    monkeypatch.setattr(stage, "sync_status", lambda *a, **kw: {"targets_unusable": 0, "targets_failed": 1})
    with pytest.raises(tasks.StatusSyncFailed, match="1 receiver"):
        tasks.sync_orders(end, end)


# --- the daily report's work orders ------------------------------------------------------------------

DAY_END = T0 + timedelta(hours=12)


def _lead(store: Store, lead_id: str, district: str = "南山区") -> None:
    lead = Lead(id=lead_id, status=LeadStatus.DISPATCHED, title=f"{district}井盖缺失", category="市政设施",
                district=district, street=None, unit=None, urgent=False, priority=0.5,
                priority_parts=PriorityParts(), post_count=0, platform_count=0, first_seen=T0, last_seen=T0,
                detected_at=T0, sla_due_at=T0 + timedelta(hours=2))
    store.leads.create(lead, [], LeadEvent(lead_id, "created", "clusterer", T0, {}))


def test_daily_report_lists_dead_overdue_and_returned_orders(radar_env):
    from delivery import lifecycle
    store = Store.open(f"sqlite:///{radar_env / 'radar.db'}")
    try:
        specs = {  # lead -> (deadline from the day's end, what happens to its order)
            "L0000000000e1": (timedelta(hours=-5), "accepted"),      # overdue 5 h: supervision
            "L0000000000e2": (timedelta(hours=3), "dead"),           # dead, not yet due
            "L0000000000e3": (timedelta(hours=-1), "returned"),      # returned and overdue
            "L0000000000e4": (timedelta(hours=-30), "resolved"),     # resolved in time: no warning
            "L0000000000e5": (timedelta(hours=-2), "pending"),       # never delivered, overdue all the same
        }
        ids = {}
        for lead_id, (due, fate) in specs.items():
            _lead(store, lead_id)
            order = store.orders.create(sample_order(id=order_id_for(lead_id), lead_id=lead_id,
                                                     due_at=DAY_END + due), T0)
            ids[lead_id] = order.id
        at = T0 + timedelta(hours=1)
        for lead_id, (_, fate) in specs.items():
            if fate == "dead":
                [leased] = [o for o in store.orders.lease_due(at, 10, timedelta(seconds=30)) if o.id == ids[lead_id]]
                store.orders.failed(leased, at, "rejected: 400 service_code SZ001 not found", None)
            elif fate != "pending":
                lifecycle.apply(store, StatusUpdate(ids[lead_id], OrderStatus(fate), at, f"u-{lead_id}", "open311",
                                                    reason="非本单位职责" if fate == "returned" else None,
                                                    unit="福田区城管局" if fate == "returned" else None))
    finally:
        store.close()

    report = tasks.daily_report(DAY_END - timedelta(days=1), DAY_END)
    wo = report["work_orders"]
    assert wo["total"] == 5 and wo["as_of"] == DAY_END.isoformat()
    # an answer about an order proves it arrived: the three with a status are delivered
    assert wo["by_delivery"] == {"pending": 1, "delivered": 3, "dead": 1}
    assert wo["by_status"]["accepted"] == 1 and wo["by_status"]["returned"] == 1
    assert wo["by_status"]["resolved"] == 1 and wo["by_status"]["dispatched"] == 2
    assert wo["dead"]["count"] == 1 and wo["dead"]["orders"][0]["id"] == ids["L0000000000e2"]
    assert "400" in wo["dead"]["orders"][0]["last_error"]
    overdue = wo["overdue"]
    assert overdue["count"] == 3
    assert [(o["order"], o["hours_over"]) for o in overdue["orders"]] == [  # longest overdue first
        (ids["L0000000000e1"], 5.0), (ids["L0000000000e5"], 2.0), (ids["L0000000000e3"], 1.0)]
    assert overdue["orders"][0]["status"] == "accepted" and overdue["orders"][0]["lead"] == "L0000000000e1"
    returned = wo["returned"]
    assert returned["count"] == 1 and returned["orders"][0]["id"] == ids["L0000000000e3"]
    assert returned["orders"][0]["reason"] == "非本单位职责"
    stored = json.loads(Path(report["path"]).read_text(encoding="utf-8"))
    assert stored["work_orders"]["overdue"]["count"] == 3


# --- Airflow ---------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def airflow_home(tmp_path_factory):
    """A migrated Airflow metadata DB with the pool policy. Airflow reads its home and database
    once, when first imported: in a session where tests/dags/test_dags.py already set one up,
    that one is reused (a second home would be invisible to this process)."""
    from pipeline.airflow_policy import write_local_settings
    if "airflow.settings" in sys.modules:
        from airflow.configuration import AIRFLOW_HOME
        write_local_settings(Path(AIRFLOW_HOME))
        return Path(AIRFLOW_HOME)
    home = tmp_path_factory.mktemp("airflow")
    env = {
        "AIRFLOW_HOME": str(home),
        "AIRFLOW__CORE__DAGS_FOLDER": str(DAGS),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{home}/airflow.db",
        "AIRFLOW__CORE__UNIT_TEST_MODE": "False",
    }
    os.environ.update(env)
    write_local_settings(home)
    subprocess.run([sys.executable, "-m", "airflow", "db", "migrate"], check=True, capture_output=True,
                   env={**os.environ, **env}, timeout=300)
    return home


def _dag():
    from airflow.dag_processing.dagbag import DagBag
    bag = DagBag(dag_folder=str(DAGS / "radar_delivery.py"))
    assert bag.import_errors == {}
    return bag.get_dag("radar_delivery")


def test_dag_file_parses_fast_and_light(airflow_home):
    probe = f"""
import json, sys, time
from airflow.dag_processing.dagbag import DagBag
started = time.perf_counter()
bag = DagBag(dag_folder={str(DAGS / "radar_delivery.py")!r})
heavy = ("pipeline", "core", "delivery", "crawlers", "enrichment", "clustering", "scrapy", "torch")
print(json.dumps({{"seconds": time.perf_counter() - started, "errors": bag.import_errors, "dags": bag.dag_ids,
                  "heavy": sorted(m for m in sys.modules if m.split(".")[0] in heavy)}}, default=str))
"""
    proc = subprocess.run([sys.executable, "-c", probe], env=os.environ.copy(), capture_output=True, text=True,
                          timeout=120, check=True)
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    assert out["errors"] == {} and out["dags"] == ["radar_delivery"] and out["seconds"] < 1.0, out
    assert set(out["heavy"]) <= {"pipeline", "pipeline.airflow_policy"}  # the pool policy, stdlib only


def test_dag_structure_maps_one_delivery_per_target_then_syncs(airflow_home):
    dag = _dag()
    assert [t.task_id for t in dag.topological_sort()] == ["enabled_targets", "deliver_target", "sync_status"]
    assert dag.max_active_runs == 1 and dag.catchup is False
    assert dag.timetable.expression == "*/5 * * * *"
    assert dag.tags and dag.doc_md and dag.default_args["owner"] == "civic-radar"
    assert dag.default_args["retries"] >= 1 and dag.default_args["retry_exponential_backoff"]
    assert dag.default_args["execution_timeout"] < timedelta(minutes=10)  # two schedule intervals
    mapped = dag.get_task("deliver_target")
    assert type(mapped).__name__.endswith("MappedOperator")
    assert mapped.partial_kwargs["retry_exponential_backoff"]
    assert mapped.upstream_task_ids == {"enabled_targets"}
    sync = dag.get_task("sync_status")
    assert sync.trigger_rule == "all_done" and sync.upstream_task_ids == {"deliver_target"}


def _seed_and_dispatch(store: Store, config) -> dict[str, str]:
    """A Nanshan lead (routed to city12345, Open311) and a Dapeng one (district_webhook), each
    verified and dispatched by an analyst through the desk. Returns lead id -> order id."""
    from core.triage import Actor, Role
    from leads_api.desk import Desk
    desk, ana = Desk(store, config), Actor("ana", Role.ANALYST, ())
    out = {}
    for n, (lead_id, district) in enumerate((("L0000000000f1", "南山区"), ("L0000000000f2", "大鹏新区")), start=1):
        post = make_post(str(n), f"{district}路面塌陷第{n}帖", at=T0)
        store.posts.upsert([post])
        store.posts.save_enrichments([(post, Enrichment(post.id, post.text, True, 0.9, "交通运输", district, None,
                                                        item="JT002", text_hash=f"h{n}"))])
        lead = Lead(id=lead_id, status=LeadStatus.NEW, title=f"{district}路面塌陷", category="交通运输",
                    district=district, street=None, unit="区交通运输局", urgent=False, priority=0.5,
                    priority_parts=PriorityParts(), post_count=1, platform_count=1, first_seen=T0, last_seen=T0,
                    item="JT002", detected_at=T0, sla_due_at=T0 + timedelta(hours=2))
        store.leads.create(lead, [(post.id, 1.0)], LeadEvent(lead_id, "created", "clusterer", T0, {}))
        verified = desk.act(ana, lead_id, 1, "verify")
        out[lead_id] = desk.dispatch(ana, lead_id, verified.version)[1].id
    return out


@pytest.mark.slow
def test_radar_delivery_run_delivers_each_order_once_and_pulls_statuses(airflow_home, tmp_path, config):
    """One run: both orders filed once (one per target, each task in its target's pool), and the
    Open311 order's statuses, moved by the reference system in the meantime, pulled back."""
    from airflow.models.taskinstance import TaskInstance
    from airflow.utils.session import create_session
    from sqlalchemy import select

    from delivery.reference import ReferenceWorkOrderSystem, new_secret
    services = [(item.id, item.name, cat.name) for cat in config.catalogue.categories for item in cat.items]
    secret = new_secret()
    # Statuses move by themselves a few hundredths of a second apart; the run's sync comes later.
    system = ReferenceWorkOrderSystem(api_key="dag-test-key", webhook_secret=secret, services=services,
                                      speed=0.02, auto_close=False).start()
    try:
        shutil.copytree(REPO / "config", tmp_path / "config")
        path = tmp_path / "config" / "delivery.yaml"
        delivery = yaml.safe_load(path.read_text(encoding="utf-8"))
        delivery["targets"]["city12345"]["url"] = system.open311_url
        delivery["targets"]["district_webhook"]["url"] = system.webhook_url
        path.write_text(yaml.safe_dump(delivery, allow_unicode=True), encoding="utf-8")
        with pytest.MonkeyPatch.context() as mp:
            mp.setenv("RADAR_CONFIG_DIR", str(tmp_path / "config"))
            mp.setenv("RADAR_HOME", str(tmp_path / "home"))
            mp.delenv("DATABASE_URL", raising=False)
            mp.setenv("RADAR_WO_API_KEY", "dag-test-key")
            mp.setenv("RADAR_WO_WEBHOOK_SECRET", secret)
            (tmp_path / "pools.json").write_text(json.dumps(tasks.delivery_pools()))
            subprocess.run([sys.executable, "-m", "airflow", "pools", "import", str(tmp_path / "pools.json")],
                           check=True, capture_output=True, env=os.environ.copy(), timeout=120)
            db = f"sqlite:///{tmp_path / 'home' / 'radar.db'}"
            (tmp_path / "home").mkdir()
            store = Store.open(db)
            try:
                from core.config import load_config
                orders = _seed_and_dispatch(store, load_config(tmp_path / "config"))
            finally:
                store.close()
            # The sync pulls updates published up to the run's logical date: put it past the test.
            logical = datetime.now(timezone.utc).replace(second=0, microsecond=0) + timedelta(minutes=10)
            run = _dag().test(logical_date=logical)
        assert run.state == "success"
        with create_session() as session:
            tis = {(ti.task_id, ti.map_index): ti for ti in session.scalars(select(TaskInstance).where(
                TaskInstance.dag_id == run.dag_id, TaskInstance.run_id == run.run_id))}
            delivered = {ti.rendered_map_index: (ti.state, ti.pool) for (task_id, _), ti in tis.items()
                         if task_id == "deliver_target"}
            assert delivered == {n: ("success", f"radar_wo_{n}") for n in TARGETS}
            assert tis[("sync_status", -1)].state == "success"

        store = Store.open(db)
        try:
            got = {lead_id: store.orders.get(order_id) for lead_id, order_id in orders.items()}
        finally:
            store.close()
        received = system.orders()
        assert len(system.requests()) == 2 and system.duplicates == 0  # one request per order
        for order in got.values():
            assert order.delivery.value == "delivered" and order.attempts == 1
            assert order.remote_id and received[order.id].remote_id == order.remote_id
        open311, webhook = got["L0000000000f1"], got["L0000000000f2"]
        assert open311.target == "city12345" and webhook.target == "district_webhook"
        # Open311 publishes updates, which the run pulled; the webhook desk calls back (none here)
        assert open311.status != OrderStatus.DISPATCHED and open311.status == received[open311.id].status
        assert webhook.status == OrderStatus.DISPATCHED
    finally:
        system.stop()
