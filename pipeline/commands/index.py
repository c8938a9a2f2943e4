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


def rebuild_index(store, index, batch: int = 1000, on_batch=None, model: str | None = None,
                  grace: float = 0.0) -> dict:
    """Index every enriched post (with its cached vector of `model`, the clusterer's) and every
    lead (with its centroid) from the store, `batch` at a time. Returns the counts and seconds.

    On a backend that can (begin_rebuild / finish_rebuild: Elasticsearch's generations, the
    embedded index's staging tables) the desk keeps reading the old index throughout: the new
    one is filled beside it and swapped in at once. What changed in the store meanwhile is
    caught up twice: into the new index just before the swap (so the desk sees no forgotten post
    come back and no new post go missing), then into the live one after it, for what changed in
    between. A catch-up indexes again the posts enriched and leads updated since, and deletes
    the posts the rebuild wrote that have since been forgotten (a deletion that reached only
    the old index must not come back). On Elasticsearch `grace` seconds pass before the second
    catch-up, so that a pipeline write which picked the old generation just before the swap is
    in the store, and so caught up, by then; the embedded swap is one SQLite transaction, and
    SQLite's single writer leaves no write behind in the old tables. A backend without
    begin_rebuild is emptied and refilled."""
    from core.models import utcnow
    from pipeline.runner import lead_centroids, post_embeddings
    started, since = time.monotonic(), utcnow()
    staged = index.begin_rebuild() if hasattr(index, "begin_rebuild") else None
    target = staged if staged is not None else index
    if staged is None:
        index.reset()
    written: set[str] = set()

    def fill(into, posts_since=None, leads_since=None) -> tuple[int, int]:
        posts = leads = 0
        for items in store.posts.iter_enriched(batch, enriched_since=posts_since):
            posts += into.index_posts(items, embeddings=post_embeddings(store, items, into.dims, model))
            written.update(ep.id for ep in items)
            if on_batch:
                on_batch("posts", posts)
        for chunk in store.leads.iter_all(batch, updated_since=leads_since):
            leads += into.index_leads(chunk, centroids=lead_centroids(store, chunk, into.dims))
            if on_batch:
                on_batch("leads", leads)
        return posts, leads

    posts, leads = fill(target)
    summary = {"backend": index.name, "posts": posts, "leads": leads}
    if staged is None:
        target.refresh()
        return {**summary, "seconds": round(time.monotonic() - started, 2)}

    def catch_up(into, changed_since) -> tuple[int, int, int]:
        """What changed in the store since `changed_since`, into `into`: posts enriched and
        leads updated are indexed again, and posts written here that are forgotten since are
        deleted (the deletion reached only the index that was live when it ran)."""
        caught_posts, caught_leads = fill(into, posts_since=changed_since, leads_since=changed_since)
        into.refresh()  # a delete by query sees only what a refresh made searchable
        gone = sorted(written - store.forget.existing(sorted(written)))
        removed = into.delete_posts(gone) if gone else 0
        into.refresh()
        return caught_posts, caught_leads, removed

    # Once into the staging index before the swap, so that the swap shows the desk what changed
    # during the fill at once, and no forgotten post comes back even for a moment ...
    mark = utcnow()
    before = catch_up(staged, since)
    old = index.finish_rebuild(staged)
    # ... and once after it, for what changed in between (and, on Elasticsearch, what a writer
    # that picked the old generation just before the swap wrote there during the grace).
    if grace and old:
        time.sleep(grace)
    after = catch_up(index, mark)
    index.drop_indices(old)
    index.refresh()
    summary.update(caught_up_posts=before[0] + after[0], caught_up_leads=before[1] + after[1],
                   forgotten_meanwhile=before[2] + after[2], dropped=len(old))
    if getattr(index, "generation", None) is not None:
        summary["generation"] = index.generation
    return {**summary, "seconds": round(time.monotonic() - started, 2)}


@index_app.command("rebuild")
def rebuild(batch: Annotated[int, typer.Option(min=1, max=10_000, help="posts per indexing batch")] = 1000,
            grace: Annotated[float, typer.Option(min=0, max=3600, help="seconds between the swap and the "
                                                 "catch-up (Elasticsearch): longer than a pipeline bulk write "
                                                 "takes")] = 60.0) -> None:
    """Rebuild the search index from the store; print {"posts", "leads", "seconds", ...}. On
    Elasticsearch the desk keeps searching the old index until the new one is swapped in."""
    from pipeline.runner import embedding_model_name
    settings = settings_or_exit()
    store = open_store(settings)
    index = _open(settings, store)
    try:
        summary = rebuild_index(store, index, batch,
                                on_batch=lambda what, n: err.print(f"indexed {n} {what}", highlight=False),
                                model=embedding_model_name(config_or_exit(settings)), grace=grace)
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
        generation = getattr(index, "generation", None)  # Elasticsearch: which rebuild is live
    finally:
        index.close()
        store.close()
    print(json.dumps({"backend": name, "store_posts": counts["posts"], "store_enriched": counts["enriched"],
                      "index_posts": indexed, "missing": counts["enriched"] - indexed,
                      "needs_rebuild": bool(outdated),
                      **({"generation": generation} if generation is not None else {})}))


def register(app: typer.Typer) -> None:
    app.add_typer(index_app, name="index")
