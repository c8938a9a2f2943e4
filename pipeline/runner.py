"""Runs stages and records each run (window, counts, duration) in the store.

Each stage is a plain function of (store, config, window) returning counts; the runner is
the same for the CLI, Airflow and tests.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from core.config import Config
from core.models import StageRun, Window, utcnow
from core.settings import Settings
from core.store import Store

Stage = Callable[[Store, Config, Window], dict[str, int]]


def crawl_stage(settings: Settings, platforms: list[str] | None = None) -> Stage:
    """The crawl stage bound to the process settings (the author salt stays in the environment)."""
    def crawl(store: Store, config: Config, window: Window) -> dict[str, int]:
        from crawlers.stage import crawl as run_crawl
        summary = run_crawl(store, config, window, platforms=platforms, salt=settings.author_salt)
        blocked = sum(1 for r in summary.runs if r.status == "blocked")
        failed = sum(1 for r in summary.runs if r.status == "error")
        return {"posts_new": summary.posts_new, "posts_updated": summary.posts_updated,
                "runs": len(summary.runs), "blocked": blocked, "failed": failed,
                "pages": sum(r.pages for r in summary.runs)}
    return crawl


def enrich_stage(store: Store, config: Config, window: Window) -> dict[str, int]:
    """Enrich with the promoted category model of $RADAR_HOME's registry, when one is promoted
    (`radar train category`); each enrichment it decided names its version."""
    from enrichment.enricher import Enricher
    from enrichment.learning import Registry, default_registry
    from enrichment.stage import enrich
    registry = Registry(default_registry(Settings().home))
    version = registry.current()
    model = registry.load(version) if version else None
    return enrich(store, config, window, Enricher(config, model, version))


def embed_stage(store: Store, config: Config, window: Window) -> dict[str, int]:
    """Encode the posts the cluster stage will place into the embedding cache, in one shard
    (radar_process spreads it over RADAR_EMBED_SHARDS tasks: pipeline.tasks.embed_shard)."""
    from clustering.embed_stage import embed
    return embed(store, config, window)


def cluster_stage(store: Store, config: Config, window: Window) -> dict[str, int]:
    """Cluster; with `clustering.candidates: knn` the search index finds the candidate leads."""
    from clustering.stage import cluster
    if config.radar.clustering.candidates != "knn":
        return cluster(store, config, window)
    from core.search import open_search
    search = open_search(Settings(), store)
    try:
        return cluster(store, config, window, search=search)
    finally:
        search.close()


def index_stage(store: Store, config: Config, window: Window) -> dict[str, int]:
    """Keep the search index (Elasticsearch, or the embedded FTS5 index) current: upsert the
    posts published in the window with their enrichment and embedding, and the leads changed
    since its start with their centroids. Idempotent like every stage; `radar index rebuild`
    rebuilds the whole index from the store."""
    from core.search import open_search
    search = open_search(Settings(), store)
    model = embedding_model_name(config)
    try:
        posts = sum(search.index_posts(batch, embeddings=post_embeddings(store, batch, search.dims, model))
                    for batch in store.posts.iter_enriched(window=window))
        leads = sum(search.index_leads(batch, centroids=lead_centroids(store, batch, search.dims))
                    for batch in store.leads.iter_all(updated_since=window.start))
        search.refresh()
    finally:
        search.close()
    return {"posts_indexed": posts, "leads_indexed": leads}


def embedding_model_name(config: Config) -> str | None:
    """The name the clusterer caches post vectors under (the configured model's), None when
    clustering runs on words only or the model is not built: posts are then indexed without."""
    if config.radar.clustering.embedding_weight <= 0:
        return None
    from clustering.embeddings import EmbeddingModelMissing
    from clustering.stage import configured_embedder
    try:
        return configured_embedder().name  # loaded once per process; the cluster stage loaded it already
    except EmbeddingModelMissing:
        return None


def post_embeddings(store: Store, items, dims: int, model: str | None) -> dict:
    """The posts' vectors from the embedding cache (what the clusterer computed; nothing is
    encoded here), keyed by post id; a post not clustered yet, or of another size, has none."""
    if model is None:
        return {}
    hashes = {ep.id: ep.enrichment.text_hash for ep in items if ep.enrichment.text_hash}
    cached = store.posts.get_embeddings(model, list(set(hashes.values())))
    return {pid: cached[h] for pid, h in hashes.items() if h in cached and cached[h].shape == (dims,)}


def lead_centroids(store: Store, leads, dims: int) -> dict:
    """The leads' embedding centroids for the index (the clusterer's kNN candidates); one of
    another model's size is left out rather than refused by the index."""
    found = store.leads.centroids([lead.id for lead in leads])
    return {lead_id: vector for lead_id, (_, vector) in found.items() if vector.shape == (dims,)}


def trends_report(store: Store, config: Config, window: Window, *, weeks: int | None = None):
    """clustering.trends as of the window end. With Elasticsearch, spikes count posts by its
    aggregations (a cluster that cannot be reached leaves it to the store, and the report says
    why); the embedded index lives in the store's own file, where the store's count is as cheap
    and never behind the index stage."""
    from dataclasses import replace

    from clustering.trends import trends
    from core.search import SearchUnavailable, open_search
    try:
        search = open_search(Settings(), store)
    except SearchUnavailable as exc:
        report = trends(store, config, window, weeks=weeks)
        return replace(report, spikes_counted_by=f"store (search index unavailable: {exc})"[:300])
    try:
        return trends(store, config, window, weeks=weeks, search=search if search.name != "embedded" else None)
    finally:
        search.close()


def sla_stage(store: Store, config: Config, window: Window) -> dict[str, int]:
    from pipeline.sla_stage import record_sla_breaches
    return record_sla_breaches(store, config, window)


@dataclass
class PassResult:
    window: Window
    runs: list[StageRun] = field(default_factory=list)

    def counts(self, stage: str) -> dict[str, int]:
        for run in self.runs:
            if run.stage == stage:
                return run.counts
        return {}

    @property
    def seconds(self) -> float:
        return sum(r.seconds for r in self.runs)


def run_stage(name: str, stage: Stage, store: Store, config: Config, window: Window) -> StageRun:
    started = utcnow()
    counts = stage(store, config, window)
    run = StageRun(name, window, started, utcnow(), dict(counts))
    store.crawl.record_stage_run(run)
    return run


def run_pass(store: Store, config: Config, window: Window, stages: list[tuple[str, Stage]],
             on_stage: Callable[[str], None] | None = None) -> PassResult:
    result = PassResult(window)
    for name, stage in stages:
        if on_stage:
            on_stage(name)
        result.runs.append(run_stage(name, stage, store, config, window))
    return result


def default_stages(settings: Settings, platforms: list[str] | None = None) -> list[tuple[str, Stage]]:
    return [("crawl", crawl_stage(settings, platforms)), ("enrich", enrich_stage), ("embed", embed_stage),
            ("cluster", cluster_stage),
            ("index", index_stage), ("sla", sla_stage)]
