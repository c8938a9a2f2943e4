"""`radar crawl ...`: parse a saved response, list the platform registry, show coverage."""
from __future__ import annotations

import json
import sys
from datetime import datetime, timezone
from pathlib import Path
from typing import Annotated

import typer

from pipeline.commands.common import config_or_exit, open_store, settings_or_exit

crawl_app = typer.Typer(help="Crawlers: parse saved responses, the platform registry, coverage.",
                        no_args_is_help=True)


def _fail(message: str) -> None:
    print(f"error: {message}", file=sys.stderr)
    raise typer.Exit(1)


def _config():
    return config_or_exit(settings_or_exit())


def post_json(post) -> dict:
    return {"id": post.id, "platform": post.platform, "url": post.url, "author": post.author_name,
            "title": post.title, "text": post.text, "published_at": post.published_at.isoformat(),
            "engagement": {"likes": post.engagement.likes, "comments": post.engagement.comments,
                           "shares": post.engagement.shares, "views": post.engagement.views},
            "geo": post.geotag, "media": list(post.media), "reposted_id": post.reposted_id}


@crawl_app.command("parse")
def parse(
    file: Annotated[Path, typer.Argument(help="a saved response body (JSON, HTML, RSS/Atom)")],
    platform: Annotated[str, typer.Option("--platform", help="platform name in platforms.yaml")],
    url: Annotated[str | None, typer.Option(help="the URL it was fetched from")] = None,
    now: Annotated[str | None, typer.Option(help="ISO time relative times are read against")] = None,
) -> None:
    """Print one JSON object per post parsed from FILE."""
    from crawlers.adapters import DetailAdapter, ParseContext, ParseError, get_adapter
    config = _config()
    try:
        p = config.platform(platform)
    except KeyError as exc:
        _fail(f"{exc.args[0]} (known: {', '.join(q.name for q in config.platforms)})")
    try:
        body = file.read_bytes()
    except OSError as exc:
        _fail(f"cannot read {file}: {exc.strerror}")
    at = datetime.fromisoformat(now) if now else datetime.now(timezone.utc)
    if at.tzinfo is None:
        _fail("--now needs a UTC offset")
    adapter = get_adapter(p.adapter)
    where = url or adapter.start_url(p, (config.platform_queries(p) or [""])[0], 1)
    ctx = ParseContext("radar-crawl-parse", at)
    try:
        if isinstance(adapter, DetailAdapter) and b"postmessage_" in body:
            posts = [adapter.parse_detail(body, where, p, ctx)]  # a Discuz thread page
        else:
            posts = adapter.parse(body, where, p, ctx).posts
    except ParseError as exc:
        _fail(f"{file}: not a {platform} response: {exc}")
    for post in posts:
        print(json.dumps(post_json(post), ensure_ascii=False))


@crawl_app.command("platforms")
def platforms(as_json: Annotated[bool, typer.Option("--json")] = False) -> None:
    """The platform registry: kind, region, auth need, and the last run's status."""
    config = _config()
    last: dict[str, object] = {}
    try:
        store = open_store(settings_or_exit())
        for run in store.crawl.runs(2000):
            last.setdefault(run.platform, run)
        store.close()
    except Exception as exc:  # no store yet: the registry is still worth showing
        print(f"(no coverage records: {exc})", file=sys.stderr)
    rows = []
    for p in config.platforms:
        run = last.get(p.name)
        rows.append({"name": p.name, "title": p.title, "kind": p.kind, "adapter": p.adapter,
                     "region": p.region, "endpoint": p.endpoint, "auth": p.auth, "auth_env": p.auth_env,
                     "queries": len(config.platform_queries(p)), "enabled": p.enabled,
                     "last_status": run.status if run else None,
                     "last_run": run.finished_at.isoformat() if run else None})
    if as_json:
        print(json.dumps(rows, ensure_ascii=False, indent=1))
        return
    from rich.console import Console
    from rich.table import Table
    table = Table(title=f"{len(rows)} platforms")
    for col in ("name", "kind", "region", "auth", "queries", "last_status"):
        table.add_column(col)
    for r in rows:
        table.add_row(r["name"], r["kind"], r["region"], r["auth"], str(r["queries"]), str(r["last_status"] or "-"))
    Console().print(table)


@crawl_app.command("report")
def report(as_json: Annotated[bool, typer.Option("--json")] = False,
           limit: Annotated[int, typer.Option(help="how many runs back to look")] = 500) -> None:
    """The latest coverage record per (platform, query)."""
    store = open_store(settings_or_exit())
    latest: dict[tuple[str, str], object] = {}
    for run in store.crawl.runs(limit):
        latest.setdefault((run.platform, run.query), run)
    store.close()
    rows = [{"platform": r.platform, "query": r.query, "status": r.status, "pages": r.pages,
             "posts_new": r.posts_new, "posts_updated": r.posts_updated, "posts_skipped": r.posts_skipped,
             "errors": r.errors, "blocked_reason": r.blocked_reason, "alarms": r.alarms,
             "duration_seconds": round(r.seconds, 2), "finished_at": r.finished_at.isoformat()}
            for r in sorted(latest.values(), key=lambda r: (r.platform, r.query))]
    if as_json:
        print(json.dumps(rows, ensure_ascii=False, indent=1))
        return
    from rich.console import Console
    from rich.table import Table
    table = Table(title="latest crawl runs")
    for col in ("platform", "query", "status", "pages", "new", "upd", "skipped", "errors", "blocked / alarms", "s"):
        table.add_column(col)
    for r in rows:
        table.add_row(r["platform"], r["query"][:24], r["status"], str(r["pages"]), str(r["posts_new"]),
                      str(r["posts_updated"]), str(r["posts_skipped"]),
                      ", ".join(f"{k}={v}" for k, v in r["errors"].items()),
                      "; ".join(filter(None, [r["blocked_reason"], *r["alarms"]]))[:80], str(r["duration_seconds"]))
    Console().print(table)


def register(app: typer.Typer) -> None:
    """Add this capability's commands to the top-level app."""
    app.add_typer(crawl_app, name="crawl")
