"""`python -m crawlers.run --db URL --config-json FILE [--window-start ISO]`

Crawls every (platform, query) of a platforms JSON file (a list of PlatformConfig dicts) with
one Scrapy CrawlerProcess, then writes one core.models.CrawlRun coverage record per
(platform, query) through `store.crawl.record_run`. Secrets come from the environment only:
the author salt from RADAR_AUTHOR_SALT, platform cookies/tokens from each `auth_env`.
Exit status 0 even when platforms were blocked or failed (the records say why); nonzero only
when this program itself crashes.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
from datetime import datetime
from pathlib import Path

from scrapy.crawler import Crawler, CrawlerProcess

from core.config import PlatformConfig
from core.models import CrawlRun, utcnow
from core.store import Store

from crawlers.settings import BASE, platform_settings
from crawlers.spiders.platform import PlatformSpider

SALT_ENV = "RADAR_AUTHOR_SALT"


def errors_from_stats(stats: dict) -> dict[str, int]:
    """The coverage record's errors by kind, from the spider's stats counters."""
    out: dict[str, int] = {}
    for key, value in stats.items():
        if key == "radar/parse_errors":
            out["parse"] = int(value)
        elif key.startswith("radar/http_errors/"):
            out[f"http_{key.rsplit('/', 1)[1]}"] = int(value)
        elif key.startswith("radar/download_errors/"):
            out[f"download_{key.rsplit('/', 1)[1]}"] = int(value)
        elif key.startswith("spider_exceptions/") and key.count("/") == 1:
            out[f"exception_{key.split('/', 1)[1]}"] = int(value)
        elif key.startswith("radar/retries/"):
            out[f"retried_{key.rsplit('/', 1)[1]}"] = int(value)
        elif key.startswith("radar/retries_exhausted/"):
            out[f"gave_up_{key.rsplit('/', 1)[1]}"] = int(value)
    return out


# Retries that succeeded are counted but do not make a run partial.
_RECOVERED = ("retried_",)


def alarms_from_stats(stats: dict) -> list[str]:
    """`kind: message` per alarm raised during the run (radar/alarms/<kind>)."""
    out = [f"{key.rsplit('/', 1)[1]}: {value}" for key, value in sorted(stats.items())
           if key.startswith("radar/alarms/")]
    if stats.get("radar/auth_missing"):
        out.append(f"auth_missing: {stats['radar/auth_missing']} is not set; crawled without login")
    return out


def run_record(platform: str, query: str, started: datetime, stats: dict,
               crash: str | None = None) -> CrawlRun:
    errors = errors_from_stats(stats)
    if stats.get("radar/stop_reason") == "max_pages":
        # Not a failure, but older items were left unread: the coverage record must say so.
        errors["max_pages_reached"] = 1
    if crash:
        errors["crash"] = errors.get("crash", 0) + 1
    pages = int(stats.get("radar/pages", 0))
    blocked = stats.get("radar/blocked_reason")
    alarms = alarms_from_stats(stats)
    finished_cleanly = stats.get("radar/stop_reason") is not None and not stats.get("radar/interrupted")
    failures = {k: v for k, v in errors.items() if not k.startswith(_RECOVERED)}
    if blocked:
        status = "blocked"
    elif crash or (pages == 0 and failures):
        status = "error"
    elif failures or not finished_cleanly or any(a.startswith(("parser_broken", "circuit_open")) for a in alarms):
        status = "partial"
    else:
        status = "ok"
    return CrawlRun(platform=platform, query=query, started_at=started, finished_at=utcnow(),
                    status=status, pages=pages, posts_new=int(stats.get("radar/posts_new", 0)),
                    posts_updated=int(stats.get("radar/posts_updated", 0)), errors=errors,
                    blocked_reason=blocked or crash, alarms=alarms,
                    posts_skipped=int(stats.get("radar/posts_skipped", 0)))


def crawl_all(db: str, platforms: list[PlatformConfig], salt: str,
              window_start: datetime | None) -> list[CrawlRun]:
    store = Store.open(db)  # migrates once, before spiders open their own connections
    process = CrawlerProcess(BASE)
    jobs: list[tuple[PlatformConfig, str, Crawler, datetime, list[str]]] = []
    for platform in platforms:
        # Per-platform politeness goes in through custom_settings, Scrapy's per-spider
        # settings hook, so the process keeps managing the one reactor.
        spidercls = type(f"PlatformSpider_{platform.name}", (PlatformSpider,),
                         {"custom_settings": platform_settings(platform, db, len(platform.queries))})
        for query in platform.queries:
            crawler = process.create_crawler(spidercls)
            crash: list[str] = []
            d = process.crawl(crawler, platform=platform, query=query, store_url=db, salt=salt,
                              window_start=window_start)
            # A spider that fails to start must not take the others down: record it instead.
            d.addErrback(lambda f, crash=crash: crash.append(f"{f.type.__name__}: {f.getErrorMessage()}"))
            jobs.append((platform, query, crawler, utcnow(), crash))
    process.start()
    runs = []
    for platform, query, crawler, started, crash in jobs:
        stats = crawler.stats.get_stats() if crawler.stats else {}
        run = run_record(platform.name, query, started, stats, crash[0] if crash else None)
        store.crawl.record_run(run)
        runs.append(run)
    store.close()
    return runs


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m crawlers.run", description=__doc__.split("\n\n")[0])
    ap.add_argument("--db", required=True, help="store URL (core.store.Store.open)")
    ap.add_argument("--config-json", required=True, type=Path, help="JSON list of PlatformConfig dicts")
    ap.add_argument("--window-start", type=datetime.fromisoformat, default=None,
                    help="ISO time with offset; paging stops at pages entirely older than this")
    args = ap.parse_args(argv)
    salt = os.environ.get(SALT_ENV)
    if not salt:
        ap.error(f"{SALT_ENV} must be set in the environment (the author-hash salt)")
    if args.window_start is not None and args.window_start.tzinfo is None:
        ap.error("--window-start needs a UTC offset")
    raw = json.loads(args.config_json.read_text(encoding="utf-8"))
    platforms = [PlatformConfig.model_validate(p) for p in raw]
    runs = crawl_all(args.db, platforms, salt, args.window_start)
    for run in runs:
        print(json.dumps({"platform": run.platform, "query": run.query, "status": run.status,
                          "pages": run.pages, "posts_new": run.posts_new,
                          "posts_updated": run.posts_updated, "errors": run.errors,
                          "reason": run.blocked_reason, "alarms": run.alarms,
                          "skipped": run.posts_skipped}, ensure_ascii=False))
    return 0


if __name__ == "__main__":
    sys.exit(main())
