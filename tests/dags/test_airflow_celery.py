"""`radar airflow --executor celery`: PostgreSQL metadata, Redis broker, two Celery workers.

One start (each costs a minute on a small machine) covers both parts of the issue: the mapped
crawls of one radar_crawl run spread over both workers, and killing one worker mid-run (its
whole process tree, as when its machine dies) leaves the run to finish on the other after
retries. Every list page 1 is served slowly, so the crawls are still running when the worker
is killed; a short heartbeat timeout and retry delay keep the recovery within the test.
"""
from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time

import pytest
import yaml
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from core.store import Store
from tests.conftest import POSTGRES_URL, REPO
from tests.dags.test_dags import (END, SMALL_REGISTRY, _api, _interrupt, _live, _until, free_port,
                                  simulator_config, start_simulator)

SLOW_PAGE_SECONDS = 20


def _airflow_metadata_url() -> str:
    """A fresh `airflow_test` database next to the store's test database (scripts/test-postgres.sh)."""
    try:
        engine = create_engine(POSTGRES_URL, isolation_level="AUTOCOMMIT")
        with engine.connect() as conn:
            conn.execute(text("DROP DATABASE IF EXISTS airflow_test WITH (FORCE)"))
            conn.execute(text("CREATE DATABASE airflow_test"))
        engine.dispose()
    except Exception as exc:  # noqa: BLE001 - any failure means "not reachable"
        if os.environ.get("RADAR_REQUIRE_POSTGRES") == "1":
            pytest.fail(f"PostgreSQL is required here but unreachable: {exc}")
        pytest.skip(f"PostgreSQL not reachable at {POSTGRES_URL}: {str(exc).splitlines()[0]}")
    return make_url(POSTGRES_URL).set(database="airflow_test").render_as_string(hide_password=False)


def _kill_tree(pid: int, tree: set[int]) -> None:
    try:
        os.killpg(pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    for p in tree:
        try:
            os.kill(p, signal.SIGKILL)
        except ProcessLookupError:
            pass


def _worker_pids(home) -> dict[str, int]:
    """worker1, worker2 -> pid of that `airflow celery worker` (components.json of `radar airflow`)."""
    pids = json.loads((home / "airflow" / "components.json").read_text())
    return {name: pid for name, pid in pids.items() if name.startswith("worker")}


@pytest.mark.slow
def test_radar_airflow_celery_spreads_crawls_over_two_workers_and_survives_losing_one(tmp_path):
    from crawlers.simulator.corpus import generate
    from crawlers.simulator.server import Fault
    from pipeline.commands.airflow import descendants
    if shutil.which("redis-server") is None:
        pytest.fail("redis-server is not installed (scripts/system-deps.sh)")
    metadata_url = _airflow_metadata_url()
    posts = [p for p, _ in generate(5, 120, END)]
    sim, served = start_simulator(posts)
    try:
        platforms = simulator_config(sim, tmp_path / "config", [n for n in SMALL_REGISTRY if n in served])
        assert len(platforms) == 3
        registry = tmp_path / "config" / "platforms.yaml"  # the slow page must not time out
        doc = yaml.safe_load(registry.read_text(encoding="utf-8"))
        for p in doc["platforms"]:
            p["timeout_seconds"] = 6 * SLOW_PAGE_SECONDS
        registry.write_text(yaml.safe_dump(doc, allow_unicode=True), encoding="utf-8")
        for name in platforms:  # each crawl takes > SLOW_PAGE_SECONDS: caught mid-run
            sim.set_fault(name, Fault("slow", pages=frozenset({1}), delay=SLOW_PAGE_SECONDS))
        # The store's schema exists before the crawls start: concurrent first opens of a fresh
        # SQLite store race on creating it ("table alembic_version already exists", a retry).
        (tmp_path / "home").mkdir()
        Store.open(f"sqlite:///{tmp_path / 'home' / 'radar.db'}").close()
        port, redis_port = free_port(), free_port()
        env = {k: v for k, v in os.environ.items() if not k.startswith("AIRFLOW")}
        env.pop("DATABASE_URL", None)
        env.update(RADAR_HOME=str(tmp_path / "home"), RADAR_CONFIG_DIR=str(tmp_path / "config"),
                   AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT=str(free_port()),
                   AIRFLOW__LOGGING__TRIGGER_LOG_SERVER_PORT=str(free_port()),
                   # a lost worker's task is failed (then retried) after 30 s without heartbeat
                   AIRFLOW__SCHEDULER__TASK_INSTANCE_HEARTBEAT_TIMEOUT="30",
                   AIRFLOW__SCHEDULER__TASK_QUEUED_TIMEOUT="90",
                   RADAR_CRAWL_RETRY_DELAY_SECONDS="5")
        started = time.monotonic()
        proc = subprocess.Popen(
            [sys.executable, "-m", "pipeline.cli", "airflow", "--executor", "celery", "--workers", "2",
             "--port", str(port), "--broker-url", f"redis://127.0.0.1:{redis_port}/0",
             "--metadata-url", metadata_url],
            env=env, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
            start_new_session=True)
        tree: set[int] = set()
        timings = {}
        try:
            base = f"http://127.0.0.1:{port}"
            line = proc.stdout.readline()
            assert line.startswith("Airflow UI:"), (line, proc.poll())
            timings["up"] = time.monotonic() - started
            health = _api("GET", f"{base}/api/v2/monitor/health")
            assert health["metadatabase"]["status"] == "healthy"
            workers = _worker_pids(tmp_path / "home")
            assert sorted(workers) == ["worker1", "worker2"] and all(
                os.getpgid(pid) == pid for pid in workers.values())  # each leads its process group
            tree = descendants(proc.pid)
            password_file = line.rsplit("password in ", 1)[1].rstrip(")\n ")
            password = _until(lambda: os.path.exists(password_file) and json.loads(open(password_file).read()),
                              60, "the generated admin password")["admin"]
            token = _api("POST", f"{base}/auth/token", body={"username": "admin", "password": password})
            token = token["access_token"]
            _until(lambda: _api("GET", f"{base}/api/v2/dags/radar_crawl", token), 180, "radar_crawl parsed")
            # Unpausing makes the scheduler start the latest hourly run (catchup off): that run is
            # the one under test (a manual one would queue behind it: max_active_runs=1).
            _api("PATCH", f"{base}/api/v2/dags/radar_crawl", token, {"is_paused": False})
            run_id = _until(lambda: _api("GET", f"{base}/api/v2/dags/radar_crawl/dagRuns", token)["dag_runs"],
                            120, "the scheduled run")[0]["dag_run_id"]
            runs = f"{base}/api/v2/dags/radar_crawl/dagRuns/{run_id}"

            def crawls():
                tis = _api("GET", f"{runs}/taskInstances", token)["task_instances"]
                return [t for t in tis if t["task_id"] == "crawl_platform"]

            # 1. the three crawls run at once (a pool each, 2 workers x 2 slots): on both workers
            running = _until(lambda: (c := crawls()) and len(c) == 3
                             and all(t["state"] == "running" and t["hostname"] for t in c) and c,
                             240, "three crawls running")
            timings["running"] = time.monotonic() - started
            on = {t["rendered_map_index"]: t["hostname"].split("@")[0] for t in running}
            assert set(on.values()) == {"worker1", "worker2"}, on

            # 2. the worker with one crawl dies with its whole tree (as its machine would)
            victim = min(("worker1", "worker2"), key=lambda w: list(on.values()).count(w))
            survivor = "worker2" if victim == "worker1" else "worker1"
            lost = sorted(n for n, w in on.items() if w == victim)
            tree |= descendants(proc.pid)
            _kill_tree(workers[victim], descendants(workers[victim]))
            state = _until(lambda: (s := _api("GET", runs, token)["state"]) in ("success", "failed") and s,
                           420, "the run to finish after the lost worker")
            timings["finished"] = time.monotonic() - started
            tree |= descendants(proc.pid)
            final = {t["rendered_map_index"]: t for t in crawls()}
            assert state == "success", final
            assert sorted(final) == sorted(platforms)
            for name, t in final.items():
                assert t["state"] == "success", t
                assert t["pool"] == f"radar_{name}"
            for name in lost:  # retried, and the retry ran on the surviving worker
                assert final[name]["try_number"] >= 2, final[name]
                assert final[name]["hostname"].split("@")[0] == survivor, final[name]
        finally:
            tree |= descendants(proc.pid)
            err = _interrupt(proc, tree, timeout=240)
            timings["stopped"] = time.monotonic() - started
            print("timings (s):", {k: round(v) for k, v in timings.items()})
        assert proc.returncode == 0, err
        assert "no process left behind" in err
        assert tree and _live(tree | {proc.pid}) == []
    finally:
        sim.stop()


def test_celery_profile_requires_a_reachable_postgresql_metadata_database():
    from pipeline.commands.airflow import check_metadata_url
    assert "needs PostgreSQL" in check_metadata_url("sqlite:////tmp/airflow.db")
    port = free_port()  # nothing listens there
    problem = check_metadata_url(f"postgresql+psycopg://u:secret@127.0.0.1:{port}/airflow")
    assert "not reachable" in problem and "secret" not in problem


def test_celery_components_share_settings_and_name_each_worker(tmp_path):
    from pipeline.commands.airflow import celery_components, celery_env
    url = "postgresql+psycopg://u:p@db/airflow"
    env = celery_env({"AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT": "9000"}, url, "redis://r:6379/0",
                     tmp_path, workers=3, concurrency=2)
    assert env["AIRFLOW__CORE__EXECUTOR"] == "CeleryExecutor"
    assert env["AIRFLOW__CELERY__RESULT_BACKEND"] == "db+" + url
    assert env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN_ASYNC"] == url
    again = celery_env({}, url, "redis://r:6379/0", tmp_path, workers=3, concurrency=2)
    assert again["AIRFLOW__API_AUTH__JWT_SECRET"] == env["AIRFLOW__API_AUTH__JWT_SECRET"]  # kept
    comps = celery_components(env, 3, 2)
    assert [c[0] for c in comps] == ["api-server", "scheduler", "dag-processor", "triggerer",
                                     "worker1", "worker2", "worker3"]
    workers = [c for c in comps if c[0].startswith("worker")]
    assert [w[2]["AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT"] for w in workers] == ["9000", "9001", "9002"]
    assert [w[1][w[1].index("-H") + 1].split("@")[0] for w in workers] == ["worker1", "worker2", "worker3"]
    assert all(w[2]["RADAR_AIRFLOW_WORKER_HOSTNAME"] == w[1][w[1].index("-H") + 1] for w in workers)
