"""Incremental clustering at scale: a simulator corpus fed in batches, as the pipeline runs.

    python -m benchmarks.clustering_scale --posts 1000000 --batch 10000

Per batch: load, enrich, cluster over the batch's time span (existing leads within the time
window are the anchors). Prints per-batch cluster seconds, the first-10 vs last-10 batch
means, peak RSS, and, at `--refit-at` posts, the cost of re-clustering everything from
scratch against one incremental batch, and pairwise F1 against the simulator's problems, strict
and with recurrences (same issue, same place, back within reopen_days) counted as the one
problem the issue asks them to be. Last line: one JSON object.

The corpus is spread at `--per-day` posts a day (a large city desk's volume), so a batch is a
slice of time, as in production.

`--embedder` picks what stands in the embedding slot: `projected` (default) is a 384-d random
projection of char n-grams, e5-small's shape at a fraction of its cost, so the clustering path
(embedding cache, centroids, blended similarities) runs in full; `model` is the configured
model itself (about 95 posts/s on 2 cores: hours at 1M posts); `none` clusters on words only.
Encoding cost is benchmarks.embeddings' figure; this one measures clustering.

`--candidates scan,knn` runs the same corpus once per way of finding the leads a batch may
join (issue 14): `scan` loads every lead of the time window (and the open ones at the places
the batch names); `knn` asks the search index for each post's `knn_k` nearest lead centroids
(the embedded index, or Elasticsearch with `--elasticsearch-url`), the leads being indexed
after each batch as the pipeline's index stage does. Printed side by side: pairwise F1 and the
per-batch cluster seconds of each. Needs an embedder (`projected` or `model`).
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import resource
import statistics
from collections import Counter
import tempfile
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

import numpy as np

from benchmarks.pipeline import to_post
from benchmarks.settings import clustering_overrides
from clustering.stage import cluster
from core.config import load_config
from core.models import Window
from core.settings import REPO_ROOT
from core.store import Store
from crawlers.simulator.corpus import generate
from enrichment.stage import enrich
from pipeline.runner import lead_centroids


class ProjectedEmbedder:
    """Unit 384-d vectors from a fixed random projection of hashed char 1-2-grams."""

    name = "projected-char12-384"
    dim = 384

    def __init__(self, seed: int = 1):
        from sklearn.feature_extraction.text import HashingVectorizer
        self.hasher = HashingVectorizer(analyzer="char", ngram_range=(1, 2), n_features=1 << 14,
                                        alternate_sign=True, norm="l2", dtype=np.float32)
        self.projection = np.random.default_rng(seed).standard_normal((1 << 14, self.dim)).astype(np.float32)

    def encode(self, texts):
        if len(texts) == 0:
            return np.zeros((0, self.dim), dtype=np.float32)
        out = np.asarray(self.hasher.transform(texts) @ self.projection, dtype=np.float32)
        norms = np.linalg.norm(out, axis=1, keepdims=True)
        norms[norms == 0] = 1.0
        return out / norms


def make_embedder(kind: str):
    if kind == "projected":
        return ProjectedEmbedder()
    if kind == "model":
        from clustering.stage import configured_embedder
        return configured_embedder()
    return None


def rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def refit_seconds(posts, config, end: datetime, embedder) -> float:
    """Cluster every post at once in a fresh store: what a non-incremental design pays each run."""
    with tempfile.TemporaryDirectory() as tmp:
        store = Store.open(f"sqlite:///{Path(tmp) / 'refit.db'}")
        for i in range(0, len(posts), 10_000):
            store.posts.upsert(posts[i:i + 10_000])
        window = Window(datetime(2000, 1, 1, tzinfo=timezone.utc), end + timedelta(seconds=1))
        enrich(store, config, window)
        started = time.perf_counter()
        cluster(store, config, window, embedder=embedder)
        seconds = time.perf_counter() - started
        store.close()
    return seconds


def recurrence_chains(spans: dict[str, tuple[tuple, float, float]], reopen_days: float) -> dict[str, str]:
    """problem -> the first problem of its chain: the same issue at the same place (and finer
    spot) coming back within `reopen_days` of the previous occurrence's last post. The issue
    asks for such a problem to reopen its lead; the simulator's truth calls it a new problem."""
    by_key: dict[tuple, list[tuple[float, float, str]]] = {}
    for pid, (key, first, last) in spans.items():
        by_key.setdefault(key, []).append((first, last, pid))
    chain_of: dict[str, str] = {}
    for occurrences in by_key.values():
        occurrences.sort()
        head, last_seen = None, None
        for first, last, pid in occurrences:
            if head is None or first - last_seen > reopen_days * 86400:
                head = pid
            chain_of[pid] = head
            last_seen = last if last_seen is None else max(last_seen, last)
    return chain_of


def pairwise_quality(store: Store, problem_of: dict[str, str]) -> dict:
    """Pairwise precision / recall / F1 of leads against the true problems, counted without
    listing pairs: sum over (lead, problem) cells of C(n, 2)."""
    def pairs(n: int) -> int:
        return n * (n - 1) // 2
    _, leads = store.leads.list(limit=10_000_000)
    members = store.leads.member_ids([lead.id for lead in leads])
    cells: Counter = Counter()
    in_leads = Counter()
    for lead_id, posts in members.items():
        in_leads[lead_id] = len(posts)
        for p in posts:
            if p in problem_of:
                cells[(lead_id, problem_of[p])] += 1
    problems = Counter(problem_of.values())
    tp = sum(pairs(n) for n in cells.values())
    predicted = sum(pairs(n) for n in in_leads.values())
    actual = sum(pairs(n) for n in problems.values())
    precision = tp / predicted if predicted else 0.0
    recall = tp / actual if actual else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {"pairwise_precision": round(precision, 4), "pairwise_recall": round(recall, 4),
            "pairwise_f1": round(f1, 4)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--posts", type=int, default=200_000)
    parser.add_argument("--batch", type=int, default=10_000)
    parser.add_argument("--per-day", type=int, default=5_000)
    parser.add_argument("--refit-at", type=int, default=100_000)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--embedder", choices=("projected", "model", "none"), default="projected")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                        help="override a clustering setting (radar.yaml clustering.KEY)")
    parser.add_argument("--candidates", default="scan",
                        help="comma-separated: scan, knn (each a full run over the same corpus)")
    parser.add_argument("--elasticsearch-url", default=None, help="knn against this cluster (default: "
                        "the embedded index in the benchmark's SQLite file)")
    args = parser.parse_args()
    modes = [m.strip() for m in args.candidates.split(",") if m.strip()]
    if not modes or set(modes) - {"scan", "knn"}:
        parser.error(f"--candidates takes scan and/or knn, got {args.candidates!r}")
    if "knn" in modes and args.embedder == "none":
        parser.error("--candidates knn needs embeddings: --embedder projected or model")
    if len(modes) > 1:
        runs = {}
        for mode in modes:
            print(f"=== candidates: {mode}", flush=True)
            runs[mode] = run(args, mode)
        print(json.dumps({"side_by_side": runs}))
        return
    print(json.dumps(run(args, modes[0])))


def run(args, mode: str) -> dict:
    """One full incremental run with candidate leads found by `mode`; its figures."""

    config = load_config(REPO_ROOT / "config")
    embedder = make_embedder(args.embedder)
    if args.embedder != "model":
        # words only; or the projection, whose cosine is on the char n-gram scale (floor 0)
        update = {"embedding_weight": 0.0} if embedder is None else {"embedding_floor": 0.0}
    else:
        update = {}
    clustering = clustering_overrides(args.set, config.radar.clustering.model_copy(update=update))
    clustering = clustering.model_copy(update={"candidates": mode})
    if clustering != config.radar.clustering:
        config = dataclasses.replace(config, radar=config.radar.model_copy(update={"clustering": clustering}))
    if args.set:
        print(f"clustering settings changed: {' '.join(args.set)}", flush=True)
    end = datetime(2026, 11, 22, tzinfo=timezone.utc)
    days = max(1, args.posts // args.per_day)
    seconds: list[float] = []
    refit = incremental_at_refit = None
    kept = []  # the posts up to --refit-at, for the side-by-side re-fit
    problem_of: dict[str, str] = {}  # post id -> true problem, for pairwise F1 over the whole run
    spans: dict[str, tuple[tuple, float, float]] = {}  # problem -> ((issue, place, spot), first, last post)
    with tempfile.TemporaryDirectory() as tmp:
        store = Store.open(f"sqlite:///{Path(tmp) / 'scale.db'}")
        search = open_candidates_index(args, store, embedder) if mode == "knn" else None
        batch = []
        total = 0

        def run_batch(batch) -> None:
            nonlocal total
            store.posts.upsert(batch)
            start = min(p.published_at for p in batch)
            window = Window(start - timedelta(hours=6), max(p.published_at for p in batch) + timedelta(seconds=1))
            enrich(store, config, window)
            started = time.perf_counter()
            counts = cluster(store, config, window, embedder=embedder, search=search)
            seconds.append(time.perf_counter() - started)
            if search is not None:  # the pipeline's index stage, after cluster
                for leads in store.leads.iter_all(updated_since=window.start):
                    search.index_leads(leads, centroids=lead_centroids(store, leads, search.dims), points={})
                search.refresh()
            total += len(batch)
            print(f"batch {len(seconds):4d}  posts {total:9d}  cluster {seconds[-1]:6.2f} s  "
                  f"created {counts['leads_created']:5d}  joined {counts['leads_updated']:5d}  "
                  f"rss {rss_mb():7.0f} MB", flush=True)

        for sim, truth in generate(args.seed, args.posts, end, days=days):
            post = to_post(sim, end)
            if truth.problem_id:
                problem_of[post.id] = truth.problem_id
                at = post.published_at.timestamp()
                key, first, last = spans.get(truth.problem_id, ((truth.issue, truth.place, truth.spot), at, at))
                spans[truth.problem_id] = (key, min(first, at), max(last, at))
            batch.append(post)
            if total + len(batch) <= args.refit_at:
                kept.append(post)
            if len(batch) == args.batch:
                run_batch(batch)
                batch = []
                if total == args.refit_at:
                    incremental_at_refit = statistics.mean(seconds[-3:])
                    refit = refit_seconds(kept, config, kept[-1].published_at, embedder)
                    kept = []
                    print(f"re-fit of all {args.refit_at} posts: {refit:.1f} s; incremental batch: "
                          f"{incremental_at_refit:.2f} s ({refit / incremental_at_refit:.1f}x)", flush=True)
        if batch:
            run_batch(batch)
        quality = pairwise_quality(store, problem_of)
        chain_of = recurrence_chains(spans, config.radar.clustering.reopen_days)
        chained = pairwise_quality(store, {post: chain_of[pid] for post, pid in problem_of.items()})
        quality.update({f"recurrence_{k}": v for k, v in chained.items()})
        store.close()
    first, last = statistics.mean(seconds[:10]), statistics.mean(seconds[-10:])
    figures = {"posts": total, "batches": len(seconds), "batch": args.batch, "embedder": args.embedder,
               "candidates": mode,
               "first10_mean_s": round(first, 3), "last10_mean_s": round(last, 3),
               "last_vs_first": round(last / first, 3), "peak_rss_mb": round(rss_mb(), 1), **quality}
    if refit is not None:
        figures.update(refit_s=round(refit, 2), incremental_batch_s=round(incremental_at_refit, 3),
                       refit_vs_incremental=round(refit / incremental_at_refit, 1))
    return figures


def open_candidates_index(args, store: Store, embedder):
    if args.elasticsearch_url:
        from core.search.elastic import ElasticSearch
        index = ElasticSearch(args.elasticsearch_url, store=store, prefix="benchcl", dims=embedder.dim)
        index.reset()
        return index
    from core.search.embedded import EmbeddedSearch
    return EmbeddedSearch(store, dims=embedder.dim)


if __name__ == "__main__":
    main()
