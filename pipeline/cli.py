"""The `radar` command line. Progress and tables go to stderr; machine output to stdout."""
from __future__ import annotations

import importlib
import json
import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from core.models import Window
from pipeline.commands.common import config_or_exit, err, open_store, run_with_progress, settings_or_exit

# Each module exposes `register(app)`; a new command module is one more line here.
COMMAND_MODULES = [
    "pipeline.commands.crawl",
    "pipeline.commands.enrichment",
    "pipeline.commands.clustering",
    "pipeline.commands.airflow",
    "pipeline.commands.users",
    "pipeline.commands.labels",
    "pipeline.commands.orders",
    "pipeline.commands.index",
    "pipeline.commands.forget",
]

app = typer.Typer(help="Civic Radar: city problems found on the open internet, as leads.",
                  no_args_is_help=True, pretty_exceptions_enable=False)
config_app = typer.Typer(help="Configuration files.", no_args_is_help=True)
app.add_typer(config_app, name="config")


@config_app.command("check")
def config_check(directory: Annotated[Path | None, typer.Option("--dir", help="config folder")] = None) -> None:
    """Validate every config file; print OK or each problem with file and key path (exit 1)."""
    settings = settings_or_exit()
    config = config_or_exit(settings, directory)
    print(f"OK: {len(config.platforms)} platforms, {len(config.categories)} categories, "
          f"{len(config.gazetteer.districts)} districts in {config.directory}")


@app.command()
def run(
    days: Annotated[float, typer.Option(help="window: the last N days")] = 1.0,
    platform: Annotated[list[str] | None, typer.Option(help="only these platforms")] = None,
) -> None:
    """One pass of every stage against config/platforms.yaml over the last N days."""
    from pipeline.runner import default_stages, run_pass
    settings = settings_or_exit()
    config = config_or_exit(settings)
    store = open_store(settings)
    window = Window.last(days)
    stages = default_stages(settings, platform)
    result = run_with_progress(lambda cb: run_pass(store, config, window, stages, cb),
                               [n for n, _ in stages])
    print(json.dumps({r.stage: r.counts for r in result.runs}, ensure_ascii=False))


@app.command()
def serve(
    host: str = "127.0.0.1",
    port: int = 8000,
    workers: Annotated[int, typer.Option(min=1, max=64, help="server processes (one per core is a good start)")] = 1,
) -> None:
    """Serve the analyst desk and its API (OpenAPI docs at /docs)."""
    import uvicorn
    settings = settings_or_exit()
    config_or_exit(settings)  # fail here, once, not in every worker
    open_store(settings).close()  # migrate once, before the workers open it
    settings.web_secret()  # made once, before the workers read it
    err.print(f"Civic Radar desk on http://{host}:{port}/desk  (API docs: /docs), {workers} worker(s)")
    uvicorn.run("leads_api.app:from_settings", factory=True, host=host, port=port, workers=workers,
                log_level="warning", access_log=False)


@app.command()
def status(as_json: Annotated[bool, typer.Option("--json")] = False) -> None:
    """Counts per stage, the last stage and crawl runs, and crawl checkpoints."""
    settings = settings_or_exit()
    store = open_store(settings)
    counts = store.reports.counts()
    stages = store.crawl.stage_runs(10)
    crawls = store.crawl.runs(20)
    cps = store.crawl.checkpoints()
    if as_json:
        print(json.dumps({
            "database": store.backend, "counts": counts,
            "stage_runs": [{"stage": r.stage, "finished_at": r.finished_at.isoformat(),
                            "seconds": round(r.seconds, 2), "counts": r.counts} for r in stages],
            "crawl_runs": [{"platform": r.platform, "query": r.query, "status": r.status,
                            "pages": r.pages, "posts_new": r.posts_new, "errors": r.errors,
                            "blocked_reason": r.blocked_reason,
                            "finished_at": r.finished_at.isoformat()} for r in crawls],
            "checkpoints": [{"platform": c.platform, "query": c.query, "high_water": c.high_water,
                             "cursor": c.cursor} for c in cps],
        }, ensure_ascii=False))
        return
    out = Console()
    table = Table(title=f"Civic Radar ({store.backend})")
    table.add_column("what")
    table.add_column("count", justify="right")
    for key, value in counts.items():
        table.add_row(key, str(value))
    out.print(table)
    runs = Table(title="last stage runs")
    for col in ("stage", "finished", "seconds", "counts"):
        runs.add_column(col)
    for r in stages:
        runs.add_row(r.stage, r.finished_at.strftime("%Y-%m-%d %H:%M:%S"), f"{r.seconds:.1f}",
                     json.dumps(r.counts, ensure_ascii=False))
    out.print(runs)
    crawl_table = Table(title="last crawl runs")
    for col in ("platform", "query", "status", "pages", "new", "errors", "blocked"):
        crawl_table.add_column(col)
    for r in crawls:
        crawl_table.add_row(r.platform, r.query, r.status, str(r.pages), str(r.posts_new),
                            json.dumps(r.errors), r.blocked_reason or "")
    out.print(crawl_table)
    cp_table = Table(title="checkpoints")
    for col in ("platform", "query", "high water", "cursor"):
        cp_table.add_column(col)
    for c in cps:
        cp_table.add_row(c.platform, c.query, c.high_water or "", c.cursor or "")
    out.print(cp_table)


@app.command()
def demo(
    once: Annotated[bool, typer.Option("--once", help="run the pass, print a JSON summary, exit")] = False,
    posts: Annotated[int, typer.Option(min=10, max=200_000, help="simulated posts")] = 1500,
    seed: int = 7,
    host: str = "127.0.0.1",
    port: int = 8000,
) -> None:
    """Simulated platforms → one pass of every stage → the analyst desk, with demo accounts."""
    from core.store import Store
    from pipeline.demo import demo_end, run_demo_pass
    settings = settings_or_exit()
    config = config_or_exit(settings)
    db = settings.home / "demo.db"
    for suffix in ("", "-wal", "-shm"):  # the demo always starts from an empty demo database
        Path(f"{db}{suffix}").unlink(missing_ok=True)
    store = Store.open(f"sqlite:///{db.resolve()}")
    names = ["crawl", "enrich", "embed", "cluster", "index", "sla"]
    summary, _, _ = run_with_progress(
        lambda cb: run_demo_pass(store, config, settings, seed=seed, posts=posts, end=demo_end(), on_stage=cb),
        names)
    from dataclasses import replace as _replace
    from pipeline.demo import (deliver_demo_orders, demo_accounts, dispatch_demo_orders, reference_system,
                               serve_with_delivery)
    accounts = demo_accounts(store, config)
    # the reference work-order system calls statuses back to the desk served below
    with reference_system(config, callback_base=None if once else f"http://{host}:{port}") as (system, wired):
        dispatch_demo_orders(store, wired, accounts[0].username)
        summary = _replace(summary, orders=deliver_demo_orders(store, wired))
        if once:
            sys.stdout.flush()
            print(json.dumps(summary.as_dict()))
            store.close()
            return
        from leads_api.app import create_app
        err.print(json.dumps(summary.as_dict()))
        print(f"Civic Radar demo: the analyst desk at http://{host}:{port}/desk   "
              f"(API docs: http://{host}:{port}/docs; work orders go to {system.url})", flush=True)
        for account in accounts:
            print(f"  log in as {account.username} ({account.role}) with password {account.password}", flush=True)
        serve_with_delivery(create_app(store, wired, secret=settings.web_secret()), store, wired, host, port)


def register_commands(app: typer.Typer, modules: list[str] = COMMAND_MODULES) -> None:
    for name in modules:
        importlib.import_module(name).register(app)


register_commands(app)


def main() -> None:
    """The console entry: errors a user can fix (a model not built) are one line, exit 1."""
    from clustering.embeddings import EmbeddingModelMissing
    try:
        app()
    except EmbeddingModelMissing as exc:
        print(f"error: {exc}", file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":
    main()
