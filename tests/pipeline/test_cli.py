"""The `radar` command line end to end: demo, run, status, serve."""
from __future__ import annotations

import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
from datetime import datetime, timedelta, timezone

import httpx
import pytest
import yaml

from tests.conftest import REPO

RADAR = [sys.executable, "-m", "pipeline.cli"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def env_for(tmp_path, **extra) -> dict:
    env = {**os.environ, "RADAR_HOME": str(tmp_path / "home"), **extra}
    env.pop("DATABASE_URL", None)
    return env


@pytest.mark.slow
def test_demo_once_prints_a_summary_with_leads(tmp_path):
    out = subprocess.run(RADAR + ["demo", "--once", "--posts", "400"], capture_output=True, text=True,
                         env=env_for(tmp_path), cwd=REPO, timeout=300)
    assert out.returncode == 0, out.stderr
    summary = json.loads(out.stdout.strip().splitlines()[-1])
    assert set(summary) == {"posts", "relevant", "leads", "orders", "seconds"}
    assert summary["orders"] > 0  # verified, dispatched and delivered to the reference work-order system
    assert summary["posts"] == 400 and 0 < summary["relevant"] < summary["posts"]
    assert summary["leads"] > 0
    assert (tmp_path / "home" / "demo.db").exists()


@pytest.mark.slow
def test_demo_serves_the_desk_with_a_demo_account_and_stops_on_interrupt(tmp_path):
    port = free_port()
    proc = subprocess.Popen(RADAR + ["demo", "--posts", "300", "--port", str(port)], stdout=subprocess.PIPE,
                            stderr=subprocess.DEVNULL, text=True, env=env_for(tmp_path), cwd=REPO)
    try:
        line = proc.stdout.readline()
        assert f"http://127.0.0.1:{port}/desk" in line
        account = proc.stdout.readline()
        match = re.search(r"log in as (\S+) \(analyst\) with password (\S+)", account)
        assert match, account
        deadline = time.monotonic() + 30
        client = httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=5)
        while True:
            try:
                resp = client.post("/auth/login", json={"username": match[1], "password": match[2]})
                break
            except httpx.TransportError:
                assert time.monotonic() < deadline, "the desk never answered"
                time.sleep(0.2)
        assert resp.status_code == 200, resp.text
        body = client.get("/leads").json()
        assert body["total"] > 0
        lead = client.get(f"/leads/{body['items'][0]['id']}").json()
        assert len(lead["posts"]) >= 2
        fresh = client.get("/leads", params={"status": "new"}).json()["items"][0]["id"]
        page = client.get("/desk")
        assert page.status_code == 200 and fresh in page.text
        orders = client.get("/work-orders").json()
        assert orders["total"] > 0 and {o["delivery"] for o in orders["items"]} == {"delivered"}
    finally:
        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=20) == 0


@pytest.mark.slow
def test_run_then_status_against_configured_platforms(tmp_path):
    from crawlers.simulator.corpus import generate
    from crawlers.simulator.server import SimulatorServer

    now = datetime.now(timezone.utc).replace(microsecond=0)
    posts = [p for p, _ in generate(5, 300, now - timedelta(hours=1))]
    with SimulatorServer(posts, now=now) as sim:
        config_dir = tmp_path / "config"
        shutil.copytree(REPO / "config", config_dir)
        registry = yaml.safe_load((config_dir / "platforms.yaml").read_text(encoding="utf-8"))
        # The corpus platforms; the other platforms are covered by tests/crawlers/test_all_platforms.py.
        registry["platforms"] = [p for p in registry["platforms"] if p["name"] in ("weibo", "jiazaishenzhen", "szrss")]
        for p in registry["platforms"]:
            p.update(base_url=sim.platform_base_url(p["name"]), rate_limit=100.0, auth="none")
            p.pop("auth_env", None)
        (config_dir / "platforms.yaml").write_text(yaml.safe_dump(registry, allow_unicode=True), encoding="utf-8")
        env = env_for(tmp_path, RADAR_CONFIG_DIR=str(config_dir))
        run = subprocess.run(RADAR + ["run", "--days", "30"], capture_output=True, text=True, env=env,
                             cwd=REPO, timeout=300)
        assert run.returncode == 0, run.stderr
        counts = json.loads(run.stdout.strip().splitlines()[-1])
        assert counts["crawl"]["posts_new"] == 300 and counts["cluster"]["leads_created"] > 0
        # A second pass finds nothing new and changes nothing.
        again = json.loads(subprocess.run(RADAR + ["run", "--days", "30"], capture_output=True, text=True,
                                          env=env, cwd=REPO, timeout=300).stdout.strip().splitlines()[-1])
        assert again["crawl"]["posts_new"] == 0 and again["enrich"]["posts"] == 0
        assert again["cluster"]["leads_created"] == 0
    status = json.loads(subprocess.run(RADAR + ["status", "--json"], capture_output=True, text=True,
                                       env=env, cwd=REPO, timeout=60).stdout)
    assert status["counts"]["posts"] == 300
    assert {r["platform"] for r in status["crawl_runs"]} == {"weibo", "jiazaishenzhen", "szrss"}
    assert all(c["cursor"] is None and c["high_water"] for c in status["checkpoints"])
    table = subprocess.run(RADAR + ["status"], capture_output=True, text=True, env=env, cwd=REPO, timeout=60)
    assert "checkpoints" in table.stdout and "weibo" in table.stdout


def test_broken_settings_and_config_fail_clearly(tmp_path):
    env = env_for(tmp_path, RADAR_ENVIRONMENT="production")
    out = subprocess.run(RADAR + ["status"], capture_output=True, text=True, env=env, cwd=REPO, timeout=60)
    assert out.returncode == 2 and "RADAR_AUTHOR_SALT" in out.stderr
    env = env_for(tmp_path, RADAR_CONFIG_DIR=str(tmp_path / "nowhere"))
    out = subprocess.run(RADAR + ["run"], capture_output=True, text=True, env=env, cwd=REPO, timeout=60)
    assert out.returncode == 1 and "radar.yaml: file is missing" in out.stderr


@pytest.mark.slow
def test_serve_with_two_workers_answers_and_stops_on_interrupt(tmp_path):
    port = free_port()
    env = env_for(tmp_path)
    proc = subprocess.Popen(RADAR + ["serve", "--port", str(port), "--workers", "2"], stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, text=True, env=env, cwd=REPO)
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                resp = httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=2)
                break
            except httpx.TransportError:
                assert proc.poll() is None, proc.stderr.read()
                assert time.monotonic() < deadline, "the desk never answered"
                time.sleep(0.3)
        assert resp.json() == {"status": "ok", "database": "sqlite", "leads": 0}
        assert httpx.get(f"http://127.0.0.1:{port}/leads").status_code == 401
        assert httpx.get(f"http://127.0.0.1:{port}/desk", follow_redirects=False).status_code in (302, 303, 307)
    finally:
        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=30) == 0
