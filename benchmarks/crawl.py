"""Crawl throughput against the simulator and parse cost per page, JSON and HTML kinds.

    python -m benchmarks.crawl [--posts 3000]

Crawls every non-browser platform (spread mode: the corpus dealt over all of them) through
Scrapy in one child process with politeness delays off, then times the adapters on one page
of a JSON platform (douyin) and an HTML platform (tieba). Last line: one JSON object.
"""
from __future__ import annotations

import argparse
import json
import tempfile
import time
import urllib.request
from datetime import datetime, timedelta, timezone
from pathlib import Path

from core.config import load_config
from core.models import Window
from core.store import Store
from crawlers.adapters import ParseContext, get_adapter
from crawlers.simulator.corpus import generate
from crawlers.simulator.server import SimulatorServer
from crawlers.stage import crawl

REPO = Path(__file__).resolve().parents[1]
END = datetime(2026, 11, 21, 12, 0, tzinfo=timezone(timedelta(hours=8)))


def parse_ms(config, sim, name: str, rounds: int = 200) -> float:
    p = config.platform(name).model_copy(update={"base_url": sim.platform_base_url(name)})
    adapter = get_adapter(p.adapter)
    url = adapter.start_url(p, "深圳", 1)
    body = urllib.request.urlopen(url).read()
    ctx = ParseContext("bench", END)
    started = time.perf_counter()
    for _ in range(rounds):
        adapter.parse(body, url, p, ctx)
    return (time.perf_counter() - started) / rounds * 1000


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--posts", type=int, default=3000)
    args = ap.parse_args()
    config = load_config(REPO / "config")
    corpus = [p for p, _ in generate(7, args.posts, END)]
    with SimulatorServer(corpus, END, spread=True) as sim, tempfile.TemporaryDirectory() as tmp:
        platforms = [p.model_copy(update={
            "base_url": sim.platform_base_url(p.name), "rate_limit": 1000.0, "concurrency": 8, "auth": "none",
            "auth_env": None, "queries": config.platform_queries(p)[:1] or ["深圳"], "query_from": [],
            "max_pages": 100_000}) for p in config.platforms if p.kind != "browser"]
        store = Store.open(f"sqlite:///{tmp}/bench.db")
        started = time.perf_counter()
        summary = crawl(store, config.with_platforms(platforms), Window.everything(), salt="bench")
        seconds = time.perf_counter() - started
        pages = sum(r.pages for r in summary.runs)
        store.close()
        json_ms = parse_ms(config, sim, "douyin")
        html_ms = parse_ms(config, sim, "tieba")
    figures = {"platforms": len(platforms), "posts": summary.posts_new, "pages": pages,
               "seconds": round(seconds, 2), "posts_per_second": round(summary.posts_new / seconds, 1),
               "parse_ms_per_page_json": round(json_ms, 3), "parse_ms_per_page_html": round(html_ms, 3)}
    print(f"crawled {figures['posts']} posts, {pages} pages from {len(platforms)} platforms in "
          f"{figures['seconds']} s (child process start included)")
    print(f"parse per 20-post page: JSON (douyin) {figures['parse_ms_per_page_json']} ms, "
          f"HTML (tieba) {figures['parse_ms_per_page_html']} ms")
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
