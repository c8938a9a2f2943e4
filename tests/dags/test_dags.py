"""Airflow: the DAG folder parses cleanly and fast; radar_crawl, radar_process and the daily
report against the platform simulator; `radar airflow` standalone end to end.

The simulator serves every platform of the registry it knows (`PREFIXES`); the test registry
keeps those, so the mapped crawl has one task per platform the registry and simulator share.
"""
from __future__ import annotations

import inspect
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from datetime import datetime, timedelta, timezone

import pytest
import yaml

from core.store import Store
from tests.conftest import REPO

DAGS = REPO / "dags"
DAG_IDS = {"radar_crawl", "radar_process", "radar_daily", "radar_delivery"}
END = datetime(2026, 11, 21, 12, tzinfo=timezone.utc)
SMALL_REGISTRY = ("weibo", "jiazaishenzhen", "szrss")


def simulator_config(sim, config_dir, names: list[str]) -> list[str]:
    """Copy config/ to `config_dir` with the platforms the simulator serves pointed at it."""
    shutil.copytree(REPO / "config", config_dir)
    registry = yaml.safe_load((config_dir / "platforms.yaml").read_text(encoding="utf-8"))
    registry["platforms"] = [p for p in registry["platforms"] if p["name"] in names]
    for p in registry["platforms"]:
        p.update(base_url=sim.platform_base_url(p["name"]), rate_limit=100.0, auth="none")
        p.pop("auth_env", None)
    (config_dir / "platforms.yaml").write_text(yaml.safe_dump(registry, allow_unicode=True), encoding="utf-8")
    return [p["name"] for p in registry["platforms"] if p.get("enabled", True)]


def start_simulator(posts, **kwargs):
    from crawlers.simulator import server
    served = set(getattr(server, "PREFIXES", {"weibo": 0, "jiazaishenzhen": 0, "szrss": 0}))
    if "spread" in inspect.signature(server.SimulatorServer).parameters and len(served) > 3:
        kwargs["spread"] = True  # deal the corpus over every simulated platform
    return server.SimulatorServer(posts, now=END, **kwargs).start(), sorted(served)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def airflow_home(tmp_path_factory):
    """A migrated Airflow metadata DB with the pool policy; Airflow reads its settings at import."""
    from pipeline.airflow_policy import write_local_settings
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


def test_dagbag_imports_without_errors_fast_and_light(airflow_home):
    """Each file parses in < 1 s (the parse itself, Airflow already imported) and imports none of
    our packages (or Scrapy, torch) at top level."""
    probe = f"""
import json, sys, time
from pathlib import Path
from airflow.dag_processing.dagbag import DagBag
out = {{"files": {{}}}}
for path in sorted(Path({str(DAGS)!r}).glob("radar_*.py")):
    started = time.perf_counter()
    bag = DagBag(dag_folder=str(path))
    out["files"][path.name] = {{"seconds": time.perf_counter() - started, "errors": bag.import_errors,
                               "dags": bag.dag_ids,
                               "stats": [s.duration.total_seconds() for s in bag.dagbag_stats]}}
heavy = ("pipeline", "core", "crawlers", "enrichment", "clustering", "scrapy", "torch")
out["heavy"] = sorted(m for m in sys.modules if m.split(".")[0] in heavy)
print(json.dumps(out, default=str))
"""
    proc = subprocess.run([sys.executable, "-c", probe], env=os.environ.copy(), capture_output=True,
                          text=True, timeout=120, check=True)
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    assert set(out["heavy"]) <= {"pipeline", "pipeline.airflow_policy"}  # the pool policy, stdlib only
    assert {d for f in out["files"].values() for d in f["dags"]} == DAG_IDS
    for name, f in out["files"].items():
        assert f["errors"] == {}, name
        assert f["seconds"] < 1.0 and max(f["stats"]) < 1.0, (name, f)

    from airflow.dag_processing.dagbag import DagBag
    bag = DagBag(dag_folder=str(DAGS))
    assert bag.import_errors == {} and set(bag.dag_ids) == DAG_IDS
    for dag_id in DAG_IDS:
        dag = bag.get_dag(dag_id)
        assert dag.tags and dag.doc_md and dag.default_args["owner"] == "civic-radar"
        assert dag.default_args["retries"] >= 1 and dag.default_args["execution_timeout"]
    crawl = bag.get_dag("radar_crawl")
    assert [t.task_id for t in crawl.topological_sort()][:2] == ["enabled_platforms", "crawl_platform"]
    mapped = crawl.get_task("crawl_platform")
    assert type(mapped).__name__.endswith("MappedOperator")
    assert mapped.partial_kwargs["retry_exponential_backoff"]
    publish = crawl.get_task("publish_posts")
    from airflow.sdk import Asset
    assert publish.outlets == [Asset("radar://posts")] and publish.trigger_rule == "all_done"
    assert crawl.get_task("coverage").trigger_rule == "all_done"
    process = bag.get_dag("radar_process")
    assert [t.task_id for t in process.topological_sort()] == ["enrich", "embed_shards", "embed", "cluster", "index", "sla"]
    assert type(process.get_task("embed")).__name__.endswith("MappedOperator")
    assert Asset("radar://posts").uri in str(process.timetable.asset_condition)


# --- dag.test() against the simulator -----------------------------------------------------------

@pytest.fixture(scope="module")
def radar(airflow_home, tmp_path_factory):
    """The simulator as the platforms, a config pointing at it, an empty store, platform pools."""
    from crawlers.simulator.corpus import generate
    from pipeline.airflow_policy import pool_for_platform
    tmp = tmp_path_factory.mktemp("radar")
    posts = [p for p, _ in generate(11, 400, END)]
    sim, served = start_simulator(posts)
    platforms = simulator_config(sim, tmp / "config", served)
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("RADAR_CONFIG_DIR", str(tmp / "config"))
        mp.setenv("RADAR_HOME", str(tmp / "home"))
        mp.delenv("DATABASE_URL", raising=False)
        pools = {pool_for_platform(n): {"slots": 1, "description": "test"} for n in platforms}
        (tmp / "pools.json").write_text(json.dumps(pools))
        subprocess.run([sys.executable, "-m", "airflow", "pools", "import", str(tmp / "pools.json")],
                       check=True, capture_output=True, env=os.environ.copy(), timeout=120)
        yield {"sim": sim, "posts": posts, "platforms": platforms, "db": f"sqlite:///{tmp / 'home' / 'radar.db'}",
               "home": tmp / "home"}
    sim.stop()


def _dag(dag_id: str):
    from airflow.dag_processing.dagbag import DagBag
    return DagBag(dag_folder=str(DAGS / f"{dag_id}.py")).get_dag(dag_id)


def _task_instances(run) -> dict:
    from airflow.models.taskinstance import TaskInstance
    from airflow.utils.session import create_session
    from sqlalchemy import select
    with create_session() as session:
        tis = session.scalars(select(TaskInstance).where(TaskInstance.dag_id == run.dag_id,
                                                         TaskInstance.run_id == run.run_id)).all()
        return {(ti.task_id, ti.map_index): (ti.state, ti.pool, ti.rendered_map_index) for ti in tis}


def _asset_events() -> int:
    from airflow.models.asset import AssetEvent, AssetModel
    from airflow.sdk import Asset
    from airflow.utils.session import create_session
    from sqlalchemy import func, select
    with create_session() as session:
        return session.scalar(select(func.count()).select_from(AssetEvent).join(
            AssetModel, AssetModel.id == AssetEvent.asset_id).where(AssetModel.uri == Asset("radar://posts").uri))


@pytest.mark.slow
def test_radar_crawl_maps_one_task_per_platform_and_a_blocked_one_fails_none(radar):
    """One run over every platform (one crawl child each, so one run keeps the suite short):
    weibo answers with a captcha; the run and every platform's task still succeed."""
    from crawlers.simulator.server import Fault
    radar["sim"].set_fault("weibo", Fault("captcha"))
    try:
        run = _dag("radar_crawl").test(logical_date=END + timedelta(hours=1))
    finally:
        radar["sim"].set_fault("weibo", None)
    assert run.state == "success"
    tis = _task_instances(run)
    crawls = {k: v for k, v in tis.items() if k[0] == "crawl_platform"}
    assert sorted(v[2] for v in crawls.values()) == sorted(radar["platforms"])  # one per platform, named
    for state, pool, name in crawls.values():
        assert (state, pool) == ("success", f"radar_{name}"), name
    assert tis[("publish_posts", -1)][0] == "success" and tis[("coverage", -1)][0] == "success"
    assert _asset_events() == 1
    store = Store.open(radar["db"])
    try:
        assert store.reports.counts()["posts"] > 0
        newest: dict = {}
        for r in store.crawl.runs(500):
            newest.setdefault(r.platform, r)
    finally:
        store.close()
    assert set(newest) == set(radar["platforms"])
    assert newest["weibo"].status == "blocked" and "captcha" in newest["weibo"].blocked_reason
    assert {n: newest[n].status for n in radar["platforms"] if newest[n].status not in ("ok", "partial")} \
        == {"weibo": "blocked"}


def _leads_snapshot(db: str):
    store = Store.open(db)
    try:
        total, leads = store.leads.list(limit=100_000)
        members = store.leads.member_ids([lead.id for lead in leads])
        events = sum(len(store.leads.events(lead.id)) for lead in leads)
        snap = sorted((lead.id, lead.version, lead.post_count, str(lead.status), round(lead.priority, 6),
                       tuple(members[lead.id])) for lead in leads)
        counts = {k: v for k, v in store.reports.counts().items() if "run" not in k}
        return total, snap, events, counts
    finally:
        store.close()


@pytest.mark.slow
def test_radar_process_makes_leads(radar, monkeypatch):
    monkeypatch.setenv("RADAR_EMBED_SHARDS", "2")  # the rerun below uses one: the leads must not care
    run = _dag("radar_process").test(logical_date=END + timedelta(hours=1))
    assert run.state == "success"
    tis = _task_instances(run)
    assert tis[("sla", -1)][0] == "success"  # breaches recorded after clustering
    assert tis[("embed", 0)][0] == tis[("embed", 1)][0] == "success" and ("embed", 2) not in tis
    total, _, _, counts = radar["leads"] = _leads_snapshot(radar["db"])
    assert total > 0 and counts["relevant"] > 0 and counts["posts_in_leads"] > 0


@pytest.mark.slow
def test_radar_process_rerun_over_the_same_interval_changes_nothing(radar):
    assert "leads" in radar, "needs test_radar_process_makes_leads first"
    run = _dag("radar_process").test(logical_date=END + timedelta(hours=1))  # same run id: a re-run
    assert run.state == "success"
    assert _leads_snapshot(radar["db"]) == radar["leads"]


@pytest.mark.slow
def test_daily_report_covers_platforms_blocks_and_overdue_leads(radar, monkeypatch):
    """After the three runs above: coverage names the captcha; leads older than 48 h are overdue."""
    from pipeline.tasks import daily_report
    assert "leads" in radar, "needs test_radar_process_makes_leads first"
    monkeypatch.setenv("RADAR_CONFIG_DIR", os.environ["RADAR_CONFIG_DIR"])
    now = datetime.now(timezone.utc)
    report = daily_report(now - timedelta(days=1), now + timedelta(minutes=1))
    coverage = report["coverage"]
    assert coverage["ran"] == sorted(radar["platforms"]) and coverage["not_run"] == []
    assert coverage["blocked"] == ["weibo"]
    assert any("captcha" in reason for reason in coverage["platforms"]["weibo"]["reasons"])
    # as of END every lead of a 14-day corpus first seen > 48 h earlier is overdue
    report = daily_report(END - timedelta(days=1), END)
    overdue = report["overdue_leads"]
    assert overdue["deadline_hours"] == 48 and overdue["count"] > 0
    assert all(lead["hours_open"] >= 48 for lead in overdue["leads"])
    assert "trends" in report  # clustering.trends: class cases and spikes
    stored = json.loads((radar["home"] / "reports" / f"{(END - timedelta(days=1)).date()}.json").read_text())
    assert stored["overdue_leads"]["count"] == overdue["count"]


# --- `radar airflow`: standalone end to end -----------------------------------------------------

def _live(pids: set[int]) -> list[int]:
    alive = []
    for pid in pids:
        try:
            state = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()[0]
        except OSError:
            continue
        if state != "Z":
            alive.append(pid)
    return alive


def _interrupt(proc: subprocess.Popen, tree: set[int], timeout: float) -> str:
    """Ctrl-C to a `radar airflow` command and wait for it; its stderr. If it does not stop,
    kill the whole tree, or its pipes (and processes) outlive the test, and re-raise."""
    from pipeline.commands.airflow import descendants
    proc.send_signal(signal.SIGINT)
    try:
        proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        for pid in tree | descendants(proc.pid) | {proc.pid}:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        raise
    finally:
        err = proc.stderr.read()
        if proc.returncode is None:
            os.killpg(proc.pid, signal.SIGKILL)
    return err


def _api(method: str, url: str, token: str | None = None, body: dict | None = None) -> dict:
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(url, data=data, method=method, headers={"Content-Type": "application/json"})
    if token:
        req.add_header("Authorization", f"Bearer {token}")
    with urllib.request.urlopen(req, timeout=10) as resp:
        return json.loads(resp.read() or b"{}")


def _until(fn, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        try:
            value = fn()
            if value:
                return value
        except OSError as exc:
            last = exc
        time.sleep(1)
    raise AssertionError(f"timed out waiting for {what} ({last})")


@pytest.mark.slow
def test_radar_airflow_standalone_runs_a_crawl_and_stops_clean(tmp_path):
    from crawlers.simulator.corpus import generate
    from pipeline.commands.airflow import descendants
    posts = [p for p, _ in generate(5, 120, END)]
    sim, served = start_simulator(posts)
    try:
        # Three platforms: this test is about the command's life cycle (start, pools, a run, stop);
        # the dag.test above crawls every platform.
        platforms = simulator_config(sim, tmp_path / "config", [n for n in SMALL_REGISTRY if n in served])
        port = free_port()
        env = {k: v for k, v in os.environ.items() if not k.startswith("AIRFLOW")}
        env.pop("DATABASE_URL", None)
        env.update(RADAR_HOME=str(tmp_path / "home"), RADAR_CONFIG_DIR=str(tmp_path / "config"),
                   AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT=str(free_port()),
                   AIRFLOW__LOGGING__TRIGGER_LOG_SERVER_PORT=str(free_port()))
        proc = subprocess.Popen([sys.executable, "-m", "pipeline.cli", "airflow", "--port", str(port)],
                                env=env, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                text=True, start_new_session=True)
        tree: set[int] = set()
        try:
            base = f"http://127.0.0.1:{port}"
            line = proc.stdout.readline()  # printed once the health endpoint answers
            assert line.startswith("Airflow UI:"), (line, proc.poll())
            assert _api("GET", f"{base}/api/v2/monitor/health")["metadatabase"]["status"] == "healthy"
            password_file = line.rsplit("password in ", 1)[1].rstrip(")\n ")
            password = json.loads(open(password_file).read())["admin"]
            token = _api("POST", f"{base}/auth/token", body={"username": "admin", "password": password})
            token = token["access_token"]
            _until(lambda: _api("GET", f"{base}/api/v2/dags/radar_crawl", token), 120, "radar_crawl parsed")
            _api("PATCH", f"{base}/api/v2/dags/radar_crawl", token, {"is_paused": False})
            run_id = _api("POST", f"{base}/api/v2/dags/radar_crawl/dagRuns", token,
                          {"logical_date": None})["dag_run_id"]
            runs = f"{base}/api/v2/dags/radar_crawl/dagRuns/{run_id}"
            state = _until(lambda: (s := _api("GET", runs, token)["state"]) in ("success", "failed") and s,
                           300, "the triggered run to finish")
            tis = _api("GET", f"{runs}/taskInstances", token)["task_instances"]
            tree = descendants(proc.pid)
            assert state == "success", tis
            crawls = [t for t in tis if t["task_id"] == "crawl_platform"]
            assert sorted(t["rendered_map_index"] for t in crawls) == sorted(platforms)
            assert all(t["pool"] == f"radar_{t['rendered_map_index']}" for t in crawls)
        finally:
            tree |= descendants(proc.pid)
            err = _interrupt(proc, tree, timeout=150)
        assert proc.returncode == 0, err
        assert "no process left behind" in err
        assert tree and _live(tree | {proc.pid}) == []
    finally:
        sim.stop()
