"""Airflow: the DAG folder imports cleanly and fast; one real dag.test() run over the simulator."""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from datetime import datetime, timedelta, timezone

import pytest
import yaml

from core.store import Store
from tests.conftest import REPO

DAGS = REPO / "dags"


@pytest.fixture(scope="module")
def airflow_home(tmp_path_factory):
    """A migrated Airflow metadata DB; Airflow reads its settings at import, so set them first."""
    home = tmp_path_factory.mktemp("airflow")
    env = {
        "AIRFLOW_HOME": str(home),
        "AIRFLOW__CORE__DAGS_FOLDER": str(DAGS),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{home}/airflow.db",
        "AIRFLOW__CORE__UNIT_TEST_MODE": "False",
    }
    os.environ.update(env)
    subprocess.run([sys.executable, "-m", "airflow", "db", "migrate"], check=True, capture_output=True,
                   env={**os.environ, **env}, timeout=300)
    return home


def test_dagbag_imports_without_errors_and_fast(airflow_home):
    from airflow.dag_processing.dagbag import DagBag
    bag = DagBag(dag_folder=str(DAGS))
    assert bag.import_errors == {}
    assert "radar_pipeline" in bag.dag_ids
    dag = bag.get_dag("radar_pipeline")
    assert [t.task_id for t in dag.topological_sort()] == ["crawl", "enrich", "cluster"]
    assert dag.tags and dag.doc_md and dag.default_args["owner"] == "civic-radar"
    for path in DAGS.glob("*.py"):
        started = time.perf_counter()
        subprocess.run([sys.executable, "-c", f"import runpy; runpy.run_path({str(path)!r})"],
                       check=True, env=os.environ.copy(), capture_output=True)
        assert time.perf_counter() - started < 10  # process start + Airflow import; parse itself is below


@pytest.mark.slow
def test_dag_test_runs_every_stage_against_the_simulator(airflow_home, tmp_path, monkeypatch):
    from crawlers.simulator.corpus import generate
    from crawlers.simulator.server import SimulatorServer

    end = datetime(2026, 11, 21, 12, tzinfo=timezone.utc)
    posts = [p for p, _ in generate(11, 400, end)]
    with SimulatorServer(posts, now=end) as sim:
        config_dir = tmp_path / "config"
        shutil.copytree(REPO / "config", config_dir)
        registry = yaml.safe_load((config_dir / "platforms.yaml").read_text(encoding="utf-8"))
        # The corpus platforms; the other platforms are covered by tests/crawlers/test_all_platforms.py.
        registry["platforms"] = [p for p in registry["platforms"] if p["name"] in ("weibo", "jiazaishenzhen", "szrss")]
        for p in registry["platforms"]:
            p.update(base_url=sim.platform_base_url(p["name"]), rate_limit=100.0, auth="none")
            p.pop("auth_env", None)
        (config_dir / "platforms.yaml").write_text(yaml.safe_dump(registry, allow_unicode=True), encoding="utf-8")
        monkeypatch.setenv("RADAR_CONFIG_DIR", str(config_dir))
        monkeypatch.setenv("RADAR_HOME", str(tmp_path / "radar"))
        monkeypatch.delenv("DATABASE_URL", raising=False)

        from airflow.dag_processing.dagbag import DagBag
        dag = DagBag(dag_folder=str(DAGS)).get_dag("radar_pipeline")
        run = dag.test(logical_date=end + timedelta(hours=1))
    assert run.state == "success"
    store = Store.open(f"sqlite:///{tmp_path / 'radar' / 'radar.db'}")
    counts = store.counts()
    assert counts["posts"] == len(posts)
    assert counts["leads"] > 0 and counts["relevant"] > 0
    assert [r.stage for r in store.stage_runs()] == ["cluster", "enrich", "crawl"]
    store.close()
