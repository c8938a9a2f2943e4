"""`radar index rebuild` and `radar index status`: the search index (core.search) against the store.

The index holds copies of what the store keeps, so it can always be rebuilt from the store:
after a mapping change, a new Elasticsearch cluster, or a lost SQLite FTS table."""
from __future__ import annotations

import json
import time
from typing import Annotated

import typer

from pipeline.commands.common import config_or_exit, err, fail, open_store, settings_or_exit

index_app = typer.Typer(help="The search index over posts and leads.", no_args_is_help=True)


def _open(settings, store):
    from core.search import SearchUnavailable, open_search
    try:
        return open_search(settings, store)
    except SearchUnavailable as exc:
        fail(str(exc))


def rebuild_index(store, index, batch: int = 1000, on_batch=None, model: str | None = None) -> dict:
    """Empty the index, then index every enriched post (with its cached vector of `model`, the
    clusterer's) and every lead (with its centroid) from the store, `batch` at a time. Returns
    the counts and seconds."""
    from pipeline.runner import lead_centroids, post_embeddings
    started = time.monotonic()
    index.reset()
    posts = leads = 0
    for items in store.posts.iter_enriched(batch):
        posts += index.index_posts(items, embeddings=post_embeddings(store, items, index.dims, model))
        if on_batch:
            on_batch("posts", posts)
    for chunk in store.leads.iter_all(batch):
        leads += index.index_leads(chunk, centroids=lead_centroids(store, chunk, index.dims))
        if on_batch:
            on_batch("leads", leads)
    index.refresh()
    return {"backend": index.name, "posts": posts, "leads": leads,
            "seconds": round(time.monotonic() - started, 2)}


@index_app.command("rebuild")
def rebuild(batch: Annotated[int, typer.Option(min=1, max=10_000, help="posts per indexing batch")] = 1000) -> None:
    """Delete and recreate the search index from the store; print {"posts", "leads", "seconds"}."""
    from pipeline.runner import embedding_model_name
    settings = settings_or_exit()
    store = open_store(settings)
    index = _open(settings, store)
    try:
        summary = rebuild_index(store, index, batch,
                                on_batch=lambda what, n: err.print(f"indexed {n} {what}", highlight=False),
                                model=embedding_model_name(config_or_exit(settings)))
    finally:
        index.close()
        store.close()
    print(json.dumps(summary))


@index_app.command("status")
def status() -> None:
    """How many posts the store holds (all, enriched) and how many the search index holds, and
    whether the index was built by an earlier mapping (`needs_rebuild`: run `radar index rebuild`)."""
    settings = settings_or_exit()
    store = open_store(settings)
    index = _open(settings, store)
    try:
        counts = store.reports.counts()
        indexed = index.count_posts()
        name = index.name
        outdated = index.outdated() if hasattr(index, "outdated") else []  # Elasticsearch mappings only
    finally:
        index.close()
        store.close()
    print(json.dumps({"backend": name, "store_posts": counts["posts"], "store_enriched": counts["enriched"],
                      "index_posts": indexed, "missing": counts["enriched"] - indexed,
                      "needs_rebuild": bool(outdated)}))


def register(app: typer.Typer) -> None:
    app.add_typer(index_app, name="index")
