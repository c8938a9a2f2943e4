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

`--candidates scan,knn` compares the ways of finding the leads a batch may join (issue 14) in
one run: `scan` loads every lead of the time window (and the open ones at the places the batch
names); `knn` asks the search index for each post's `knn_k` nearest lead centroids (the
embedded index, or Elasticsearch with `--elasticsearch-url`), the leads being indexed after
each batch as the pipeline's index stage does. Each way has its own store and gets every batch
in turn, so both run under the same load and a run stopped early still compares them;
`--quality-every N` prints both pairwise F1s every N posts. Printed side by side: pairwise F1
and the per-batch cluster seconds of each. Needs an embedder (`projected` or `model`).
`--parallel` runs each way in its own process instead (the same corpus; a core each on 2
cores), so a 1M-post comparison takes the slower way's time rather than the sum of both.
"""
from __future__ import annotations

import argparse
import cProfile
import dataclasses
import json
import queue
import resource
import signal
import statistics
import sys
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
                        help="comma-separated: scan, knn (each its own store, fed the same batches in turn)")
    parser.add_argument("--quality-every", type=int, default=0, metavar="POSTS",
                        help="also print pairwise F1 every POSTS posts (a cut-short run still says something)")
    parser.add_argument("--profile-at", default="", metavar="POSTS,...",
                        help="cProfile the cluster call of the batch ending at each of these post counts; "
                             "stats go to --profile-dir/cluster-<posts>-<mode>.pstats")
    parser.add_argument("--profile-dir", default="/tmp")
    parser.add_argument("--elasticsearch-url", default=None, help="knn against this cluster (default: "
                        "the embedded index in the benchmark's SQLite file)")
    parser.add_argument("--parallel", action="store_true",
                        help="with several --candidates: each way in its own process (a core each), so the run "
                             "takes the slower way's time, not the sum")
    args = parser.parse_args()
    modes = [m.strip() for m in args.candidates.split(",") if m.strip()]
    if not modes or set(modes) - {"scan", "knn"} or len(set(modes)) != len(modes):
        parser.error(f"--candidates takes scan and/or knn, each once, got {args.candidates!r}")
    if "knn" in modes and args.embedder == "none":
        parser.error("--candidates knn needs embeddings: --embedder projected or model")
    # A run is often stopped with kill: leave through SystemExit so the temporary stores (GBs
    # at 1M posts) are removed like on Ctrl-C.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    runs = run_parallel(args, modes) if args.parallel and len(modes) > 1 else run(args, modes)
    print(json.dumps({"side_by_side": runs} if len(modes) > 1 else runs[modes[0]]))


def _run_one(args, mode: str, results) -> None:
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # its temporary store goes too
    results.put((mode, run(args, [mode], label=True)[mode]))


def run_parallel(args, modes: list[str]) -> dict[str, dict]:
    """`run` for each mode in its own process, the same corpus (same seed) in each. Daemonic:
    a stopped run stops them, and their temporary stores are removed."""
    import multiprocessing as mp
    ctx = mp.get_context("fork")
    results = ctx.Queue()
    procs = [ctx.Process(target=_run_one, args=(args, mode, results), name=f"clustering-{mode}", daemon=True)
             for mode in modes]
    for p in procs:
        p.start()
    out: dict[str, dict] = {}
    while len(out) < len(modes):
        if not any(p.is_alive() for p in procs) and results.empty():
            raise SystemExit(f"clustering_scale: a mode's process failed (exit codes {[p.exitcode for p in procs]})")
        try:
            mode, figures = results.get(timeout=5)
        except queue.Empty:  # keep waiting while a process is alive
            continue
        out[mode] = figures
    for p in procs:
        p.join()
    return {mode: out[mode] for mode in modes}


@dataclasses.dataclass
class Arm:
    """One way of finding candidate leads, with its own store fed the same batches."""

    mode: str
    config: object
    store: Store
    search: object | None
    seconds: list[float] = dataclasses.field(default_factory=list)


def run(args, modes: list[str], label: bool = False) -> dict[str, dict]:
    """One incremental run over the corpus; each batch goes to every mode's store in turn (so
    the modes see the same machine load, and a run stopped early still compares them).
    mode -> its figures."""
    config = load_config(REPO_ROOT / "config")
    embedder = make_embedder(args.embedder)
    if args.embedder != "model":
        # words only; or the projection, whose cosine is on the char n-gram scale (floor 0)
        update = {"embedding_weight": 0.0} if embedder is None else {"embedding_floor": 0.0}
    else:
        update = {}
    base = clustering_overrides(args.set, config.radar.clustering.model_copy(update=update))
    if args.set:
        print(f"clustering settings changed: {' '.join(args.set)}", flush=True)
    end = datetime(2026, 11, 22, tzinfo=timezone.utc)
    days = max(1, args.posts // args.per_day)
    refit = incremental_at_refit = None
    kept = []  # the posts up to --refit-at, for the side-by-side re-fit
    problem_of: dict[str, str] = {}  # post id -> true problem, for pairwise F1 over the whole run
    spans: dict[str, tuple[tuple, float, float]] = {}  # problem -> ((issue, place, spot), first, last post)
    label = label or len(modes) > 1  # name the mode on each line when several run
    profile_at = {int(n) for n in args.profile_at.split(",") if n.strip()}
    with tempfile.TemporaryDirectory() as tmp:
        arms = []
        for mode in modes:
            clustering = base.model_copy(update={"candidates": mode})
            arm_config = (dataclasses.replace(config, radar=config.radar.model_copy(update={"clustering": clustering}))
                          if clustering != config.radar.clustering else config)
            store = Store.open(f"sqlite:///{Path(tmp) / f'scale-{mode}.db'}")
            arms.append(Arm(mode, arm_config, store,
                            open_candidates_index(args, store, embedder, mode) if mode == "knn" else None))
        batch = []
        total = 0

        def run_batch(arm: Arm, batch) -> None:
            arm.store.posts.upsert(batch)
            start = min(p.published_at for p in batch)
            window = Window(start - timedelta(hours=6), max(p.published_at for p in batch) + timedelta(seconds=1))
            enrich(arm.store, arm.config, window)
            profiler = cProfile.Profile() if total in profile_at else None
            started = time.perf_counter()
            if profiler is not None:
                profiler.enable()
            counts = cluster(arm.store, arm.config, window, embedder=embedder, search=arm.search)
            arm.seconds.append(time.perf_counter() - started)
            if profiler is not None:
                profiler.disable()
                profiler.dump_stats(str(Path(args.profile_dir) / f"cluster-{total}-{arm.mode}.pstats"))
            if arm.search is not None:  # the pipeline's index stage, after cluster
                for leads in arm.store.leads.iter_all(updated_since=window.start):
                    arm.search.index_leads(leads, centroids=lead_centroids(arm.store, leads, arm.search.dims),
                                           points={})
                arm.search.refresh()
            print(f"batch {len(arm.seconds):4d}  posts {total:9d}  {arm.mode + '  ' if label else ''}"
                  f"cluster {arm.seconds[-1]:6.2f} s  created {counts['leads_created']:5d}  "
                  f"joined {counts['leads_updated']:5d}  rss {rss_mb():7.0f} MB", flush=True)

        def checkpoint() -> None:
            chain_of = recurrence_chains(spans, config.radar.clustering.reopen_days)
            for arm in arms:
                strict = pairwise_quality(arm.store, problem_of)
                chained = pairwise_quality(arm.store, {post: chain_of[pid] for post, pid in problem_of.items()})
                print(f"quality at {total} posts  {arm.mode}: pairwise F1 {strict['pairwise_f1']:.4f}  "
                      f"recurrence-aware {chained['pairwise_f1']:.4f}", flush=True)

        def feed(batch) -> None:
            nonlocal total
            total += len(batch)
            for arm in arms:
                run_batch(arm, batch)
            if args.quality_every and total % args.quality_every == 0 and total < args.posts:
                checkpoint()

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
                feed(batch)
                batch = []
                if total == args.refit_at:
                    seconds = arms[0].seconds
                    incremental_at_refit = statistics.mean(seconds[-3:])
                    refit = refit_seconds(kept, arms[0].config, kept[-1].published_at, embedder)
                    kept = []
                    print(f"re-fit of all {args.refit_at} posts: {refit:.1f} s; incremental batch "
                          f"({arms[0].mode}): {incremental_at_refit:.2f} s ({refit / incremental_at_refit:.1f}x)",
                          flush=True)
        if batch:
            feed(batch)
        chain_of = recurrence_chains(spans, config.radar.clustering.reopen_days)
        out = {}
        for arm in arms:
            quality = pairwise_quality(arm.store, problem_of)
            chained = pairwise_quality(arm.store, {post: chain_of[pid] for post, pid in problem_of.items()})
            quality.update({f"recurrence_{k}": v for k, v in chained.items()})
            arm.store.close()
            first, last = statistics.mean(arm.seconds[:10]), statistics.mean(arm.seconds[-10:])
            figures = {"posts": total, "batches": len(arm.seconds), "batch": args.batch, "embedder": args.embedder,
                       "candidates": arm.mode,
                       "first10_mean_s": round(first, 3), "last10_mean_s": round(last, 3),
                       "last_vs_first": round(last / first, 3), "peak_rss_mb": round(rss_mb(), 1), **quality}
            if refit is not None and arm is arms[0]:
                figures.update(refit_s=round(refit, 2), incremental_batch_s=round(incremental_at_refit, 3),
                               refit_vs_incremental=round(refit / incremental_at_refit, 1))
            out[arm.mode] = figures
    return out


def open_candidates_index(args, store: Store, embedder, mode: str):
    if args.elasticsearch_url:
        from core.search.elastic import ElasticSearch
        index = ElasticSearch(args.elasticsearch_url, store=store, prefix=f"benchcl-{mode}", dims=embedder.dim)
        index.reset()
        return index
    from core.search.embedded import EmbeddedSearch
    return EmbeddedSearch(store, dims=embedder.dim)


if __name__ == "__main__":
    main()
