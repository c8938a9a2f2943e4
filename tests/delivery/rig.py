"""A rig for delivery against the reference work-order system: verified leads seeded in bulk,
a copy of config/ whose delivery.yaml points at reference systems, the desk app served by
uvicorn (status callbacks land there), and the delivery worker in a subprocess
(`python -m tests.delivery.fault_worker`) that can be killed with SIGKILL.

Used by tests/delivery/test_delivery_faults.py and benchmarks/delivery.py.
"""
from __future__ import annotations

import hashlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

import yaml

from core.models import Engagement, Enrichment, Lead, LeadEvent, LeadStatus, Post, PriorityParts, utcnow
from core.triage import Actor, Role

REPO = Path(__file__).resolve().parents[2]
OPEN311 = "city12345"
WEBHOOK = "district_webhook"
API_KEY_ENV, WEBHOOK_SECRET_ENV, CALLBACK_SECRET_ENV = "RADAR_WO_API_KEY", "RADAR_WO_WEBHOOK_SECRET", \
    "RADAR_WO_CALLBACK_SECRET"
# The districts whose orders go to the webhook target (the rest: Open311).
WEBHOOK_DISTRICTS = ("大鹏新区", "南山区")
# Items cycled over the leads; the reference systems return SW001 (退单) instead of accepting it.
ITEMS = ("JT001", "JT003", "CG001", "ST001", "JT001", "CG001", "ST001", "SW001")
RETURNED_ITEMS = frozenset({"SW001"})
ACTOR = Actor("delivery-rig", Role.ANALYST)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_until(predicate: Callable[[], object], timeout: float, step: float = 0.05, what: str = "condition"):
    """Poll `predicate` until it is truthy (returns its value) or `timeout` seconds pass."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"{what}: not met within {timeout:.0f} s")
        time.sleep(step)


# --- config ---------------------------------------------------------------------------------

def write_config(dst: Path, *, open311_url: str, webhook_url: str, target: dict | None = None,
                 districts: Sequence[str] = WEBHOOK_DISTRICTS) -> Path:
    """A copy of the repository's config/ in `dst` with both targets pointed at the given URLs,
    `target` settings (timeouts, backoff, breaker, max_attempts) applied to both, and the
    `districts` routed to the webhook target."""
    shutil.copytree(REPO / "config", dst, dirs_exist_ok=True)
    path = dst / "delivery.yaml"
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    data["targets"][OPEN311].update(url=open311_url, **(target or {}))
    data["targets"][WEBHOOK].update(url=webhook_url, **(target or {}))
    data["routes"] = [{"district": d, "target": WEBHOOK} for d in districts]
    path.write_text(yaml.safe_dump(data, allow_unicode=True, sort_keys=False), encoding="utf-8")
    return dst


# --- seeding --------------------------------------------------------------------------------

def seed_leads(store, config, n: int, *, status: LeadStatus = LeadStatus.VERIFIED, tag: str = "rig",
               now: datetime | None = None) -> list[str]:
    """`n` leads with one post each, spread over the gazetteer's districts and `ITEMS`, each at
    its own place (kilometres apart, so no lead joins another's order). Bulk writes."""
    now = now or utcnow()
    districts = [d.name for d in config.gazetteer.districts]
    categories = {item.id: cat.name for cat in config.catalogue.categories for item in cat.items}
    posts, enrichments, leads = [], [], []
    for i in range(n):
        district, item = districts[i % len(districts)], ITEMS[i % len(ITEMS)]
        lead_id = "L" + hashlib.sha1(f"{tag}:{i}".encode()).hexdigest()[:12]
        at = now - timedelta(minutes=30 + i % 60)
        text = f"{district}第{i}号路口{item}问题，市民多次反映，请尽快处理"
        post = Post(platform="weibo", native_id=f"{tag}{i}", url=f"https://example.test/weibo/{tag}{i}",
                    author_hash="a" * 24, author_name=f"user{i}", title=None, text=text, published_at=at,
                    crawled_at=at + timedelta(minutes=1), engagement=Engagement(likes=i % 7),
                    media=(f"https://example.test/media/{tag}{i}.jpg",))
        lat, lon = 22.40 + (i // 100) * 0.02, 113.80 + (i % 100) * 0.01
        enrichment = Enrichment(post.id, text, True, 0.9, categories[item], district, None, item=item,
                                text_hash=f"{tag}{i}", community=f"第{i}社区", lat=lat, lon=lon,
                                location_precision="place")
        posts.append(post)
        enrichments.append((post, enrichment))
        lead = Lead(id=lead_id, status=status, title=f"{district}{item}问题{i}", category=categories[item],
                    district=district, street=None, unit=f"{district}城市管理和综合执法局", urgent=i % 10 == 0,
                    priority=0.5, priority_parts=PriorityParts(), post_count=1, platform_count=1, first_seen=at,
                    last_seen=at, item=item, detected_at=at, sla_due_at=now + timedelta(hours=2),
                    dispatch_minutes=30, resolution_hours=24)
        leads.append((lead, [(post.id, 1.0)], LeadEvent(lead_id, "created", "clusterer", at, {})))
    for k in range(0, n, 500):
        store.posts.upsert(posts[k:k + 500])
        store.posts.save_enrichments(enrichments[k:k + 500])
        store.leads.create_many(leads[k:k + 500])
    return [lead.id for lead, _, _ in leads]


def services(config, items: Iterable[str] = ITEMS) -> list[tuple[str, str, str]]:
    """The reference systems' Open311 services: the catalogue's entries for `items`."""
    known = {item.id: (item.id, item.name, cat.name) for cat in config.catalogue.categories for item in cat.items}
    return [known[i] for i in dict.fromkeys(items)]


# --- the desk app -----------------------------------------------------------------------------

@contextmanager
def serve_app(app, port: int):
    """The FastAPI app on 127.0.0.1:`port` with uvicorn in a thread."""
    import uvicorn
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning",
                                           lifespan="off", access_log=False))
    thread = threading.Thread(target=server.run, name="rig-uvicorn", daemon=True)
    thread.start()
    wait_until(lambda: server.started or not thread.is_alive(), 20, what="uvicorn start")
    if not server.started:
        raise RuntimeError("uvicorn did not start")
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=15)


# --- the worker in a subprocess ---------------------------------------------------------------

@dataclass
class WorkerProcess:
    """`python -m tests.delivery.fault_worker` with the store and config of the environment."""

    proc: subprocess.Popen
    log: Path

    @classmethod
    def start(cls, env: dict[str, str], log: Path, *, expect: int, lease: float, seed: int, max_seconds: float,
              concurrency: int = 8, batch: int = 50, poll: float = 0.1) -> "WorkerProcess":
        args = [sys.executable, "-m", "tests.delivery.fault_worker", "--expect", str(expect), "--lease", str(lease),
                "--seed", str(seed), "--max-seconds", str(max_seconds), "--concurrency", str(concurrency),
                "--batch", str(batch), "--poll", str(poll), "--targets", f"{OPEN311},{WEBHOOK}"]
        out = log.open("w")
        proc = subprocess.Popen(args, cwd=REPO, env={**os.environ, **env, "PYTHONPATH": str(REPO)}, stdout=out,
                                stderr=subprocess.STDOUT)
        out.close()
        return cls(proc, log)

    def kill9(self) -> None:
        os.kill(self.proc.pid, signal.SIGKILL)
        self.proc.wait(timeout=10)

    def wait(self, timeout: float) -> int:
        return self.proc.wait(timeout=timeout)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.kill9()

    def summary(self) -> dict:
        """The worker's last progress line (counts by outcome so far)."""
        lines = [l for l in self.log.read_text().splitlines() if l.startswith("{")]
        return json.loads(lines[-1]) if lines else {}

    def output(self) -> str:
        return self.log.read_text()


# --- what the receivers hold ------------------------------------------------------------------

def receiving_side(systems) -> tuple[Counter, dict]:
    """(order id -> how many requests the systems hold for it, order id -> (system index, record))."""
    per_order: Counter = Counter()
    records: dict = {}
    for k, system in enumerate(systems):
        for rec in system.requests().values():
            per_order[rec.order_id] += 1
            records[rec.order_id] = (k, rec)
    return per_order, records
