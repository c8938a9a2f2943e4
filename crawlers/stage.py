"""The crawl stage: `crawl(store, config, window, platforms=None, salt=...) -> CrawlSummary`.

Runs `python -m crawlers.run` in a child process: Scrapy's Twisted reactor cannot be
restarted inside one process (Airflow's dag.test runs every task in one), and a child is the
isolation a crawl wants anyway. Secrets (author salt, platform cookies) reach the child
through its environment, never its command line. Reads the child's coverage records back.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

from core.config import Config
from core.models import CrawlRun, Window, utcnow
from core.store import Store

from crawlers.run import SALT_ENV

REPO = Path(__file__).resolve().parent.parent


class CrawlError(Exception):
    """The crawl child process crashed or ran out of time."""


@dataclass(frozen=True)
class CrawlSummary:
    runs: list[CrawlRun]
    posts_new: int
    posts_updated: int


def crawl(store: Store, config: Config, window: Window, *, platforms: list[str] | None = None,
          salt: str) -> CrawlSummary:
    """Crawl the enabled platforms (or those named) back to `window.start`; idempotent."""
    chosen = [p for p in config.platforms
              if (p.name in platforms if platforms is not None else p.enabled)]
    if platforms is not None:
        unknown = set(platforms) - {p.name for p in chosen}
        if unknown:
            raise KeyError(f"no platform named {', '.join(sorted(unknown))} in platforms.yaml")
    if not chosen:
        return CrawlSummary([], 0, 0)
    started = utcnow()
    env = {**os.environ, SALT_ENV: salt}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), env.get("PYTHONPATH")]))
    with tempfile.TemporaryDirectory(prefix="radar-crawl-") as tmp:
        cfg = Path(tmp) / "platforms.json"
        # Queries generated from config/watchlists.yaml are resolved here, in one place.
        resolved = [p.model_copy(update={"queries": config.platform_queries(p)}) for p in chosen]
        chosen = [p for p in resolved if p.queries]
        cfg.write_text(json.dumps([p.model_dump() for p in chosen], ensure_ascii=False), encoding="utf-8")
        cmd = [sys.executable, "-m", "crawlers.run",
               "--db", store.engine.url.render_as_string(hide_password=False),
               "--config-json", str(cfg), "--window-start", window.start.isoformat()]
        try:
            proc = subprocess.run(cmd, env=env, cwd=REPO, capture_output=True, text=True,
                                  timeout=config.radar.crawl_timeout_seconds)
        except subprocess.TimeoutExpired:
            raise CrawlError(f"crawl exceeded crawl_timeout_seconds="
                             f"{config.radar.crawl_timeout_seconds}; pages stored so far are kept "
                             f"and the next run resumes from the checkpoints") from None
    if proc.returncode != 0:
        raise CrawlError(f"crawl process exited {proc.returncode}: {proc.stderr[-2000:]}")
    wanted = {(p.name, q) for p in chosen for q in p.queries}
    runs: dict[tuple[str, str], CrawlRun] = {}
    # Newest first; a little slack because the store keeps whole seconds on some backends.
    for run in store.crawl.runs(limit=len(wanted) * 4 + 50):
        key = (run.platform, run.query)
        if key in wanted and key not in runs and run.started_at >= started - timedelta(seconds=1):
            runs[key] = run
    ordered = [runs[k] for k in sorted(runs)]
    return CrawlSummary(ordered, sum(r.posts_new for r in ordered), sum(r.posts_updated for r in ordered))
