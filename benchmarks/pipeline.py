"""Pipeline throughput: generate a simulator corpus, load it, enrich, cluster.

    python -m benchmarks.pipeline --posts 100000

Prints posts per second for each stage and peak RSS in MB; the last line is one JSON object.
With the configured embedding model (RADAR_EMBEDDING_MODEL, or `--embedding-model`), the embed
stage encodes every relevant post on a cold cache first, as radar_process runs it (one shard
here: on Celery, RADAR_EMBED_SHARDS tasks share it over the workers), then the cluster stage
runs on the cached vectors. Printed: each stage's rate, the encode rate (texts per second of
the time spent in the model) and embed + cluster together, which is what this one machine
sustains. `--no-embed-stage` encodes inside the cluster stage instead.
"""
from __future__ import annotations

import argparse
import json
import resource
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

from core.config import load_config
from core.models import Engagement, Post, Window, hash_author
from core.settings import REPO_ROOT
from core.store import Store
from crawlers.simulator.corpus import generate

LOAD_BATCH = 5000


def to_post(sim, crawled_at: datetime) -> Post:
    """The simulator's post as a crawler would store it (no HTTP: this measures the stages)."""
    return Post(platform=sim.platform, native_id=sim.native_id,
                url=f"https://sim.invalid/{sim.platform}/{sim.native_id}",
                author_hash=hash_author(sim.author_id, "benchmark"), author_name=sim.author_name,
                title=sim.title, text=sim.text, published_at=sim.published_at, crawled_at=crawled_at,
                engagement=Engagement(sim.likes, sim.comments, sim.shares, sim.views),
                geotag=sim.geotag, media=tuple(sim.media),
                reposted_id=f"{sim.platform}:{sim.reposted_native_id}" if sim.reposted_native_id else None)


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


class TimedEmbedder:
    """The configured embedder, timed: how many texts it encoded and the seconds it took."""

    def __init__(self, inner):
        self.inner, self.name, self.dim = inner, inner.name, inner.dim
        self.texts, self.seconds = 0, 0.0

    def encode(self, texts):
        started = time.perf_counter()
        out = self.inner.encode(texts)
        self.seconds += time.perf_counter() - started
        self.texts += len(texts)
        return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--posts", type=int, default=10_000)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--db", help="SQLAlchemy URL (default: a fresh SQLite file in a temp dir)")
    parser.add_argument("--embedding-model", help="RADAR_EMBEDDING_MODEL for this run (e.g. "
                        "multilingual-e5-small-int8)")
    parser.add_argument("--no-embed-stage", action="store_true",
                        help="encode inside the cluster stage, as before the embed stage existed")
    args = parser.parse_args()
    if args.embedding_model:
        import os
        os.environ["RADAR_EMBEDDING_MODEL"] = args.embedding_model

    from clustering.embed_stage import embed
    from clustering.stage import cluster, configured_embedder
    from enrichment.stage import enrich

    config = load_config(REPO_ROOT / "config")
    end = datetime(2026, 11, 22, tzinfo=timezone.utc)
    with tempfile.TemporaryDirectory() as tmp:
        store = Store.open(args.db or f"sqlite:///{Path(tmp) / 'bench.db'}")
        window = Window(datetime(2000, 1, 1, tzinfo=timezone.utc), end)
        figures: dict[str, float] = {"posts": args.posts}

        started = time.perf_counter()
        batch: list[Post] = []
        for sim, _truth in generate(args.seed, args.posts, end):
            batch.append(to_post(sim, end))
            if len(batch) >= LOAD_BATCH:
                store.posts.upsert(batch)
                batch.clear()
        store.posts.upsert(batch)
        seconds = time.perf_counter() - started
        figures["load_posts_per_s"] = round(args.posts / seconds, 1)
        print(f"load     {seconds:8.1f} s  {figures['load_posts_per_s']:10.1f} posts/s", flush=True)

        started = time.perf_counter()
        counts = enrich(store, config, window)
        seconds = time.perf_counter() - started
        figures["enrich_posts_per_s"] = round(args.posts / seconds, 1)
        figures["relevant"] = counts.get("relevant", 0)
        print(f"enrich   {seconds:8.1f} s  {figures['enrich_posts_per_s']:10.1f} posts/s  {counts}", flush=True)

        embedder = TimedEmbedder(configured_embedder()) if config.radar.clustering.embedding_weight > 0 else None
        if embedder is not None and not args.no_embed_stage:
            started = time.perf_counter()
            counts = embed(store, config, window, embedder=embedder)
            seconds = time.perf_counter() - started
            figures.update(embed_posts_per_s=round(args.posts / seconds, 1), embed_s=round(seconds, 1))
            print(f"embed    {seconds:8.1f} s  {figures['embed_posts_per_s']:10.1f} posts/s  {counts}", flush=True)
        started = time.perf_counter()
        counts = cluster(store, config, window, embedder=embedder)
        seconds = time.perf_counter() - started
        figures["cluster_posts_per_s"] = round(args.posts / seconds, 1)
        figures["leads"] = store.reports.counts()["leads"]
        print(f"cluster  {seconds:8.1f} s  {figures['cluster_posts_per_s']:10.1f} posts/s  {counts}", flush=True)
        if embedder is not None:
            figures.update(embedding_model=embedder.name, encoded=embedder.texts,
                           encode_s=round(embedder.seconds, 1),
                           encode_texts_per_s=round(embedder.texts / embedder.seconds, 1) if embedder.seconds else None)
            if "embed_s" in figures:
                both = figures["embed_s"] + seconds
                figures["embed_and_cluster_posts_per_s"] = round(args.posts / both, 1)
                print(f"  encoding in the embed stage: {embedder.texts} texts, {figures['encode_texts_per_s']} "
                      f"texts/s ({embedder.name}); embed + cluster {figures['embed_and_cluster_posts_per_s']} "
                      "posts/s on this machine", flush=True)
            else:
                print(f"  of which encoding {embedder.seconds:.1f} s: {embedder.texts} texts, "
                      f"{figures['encode_texts_per_s']} texts/s ({embedder.name})", flush=True)
        figures["peak_rss_mb"] = round(peak_rss_mb(), 1)
        store.close()
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
