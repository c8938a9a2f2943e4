"""The search index at scale: bulk index rate, and search latency for a two-word Chinese phrase
with filters, on the embedded FTS5 index and on Elasticsearch (issue 14).

    python -m benchmarks.search_scale --posts 1000000 [--backend embedded|elasticsearch|both]
        [--queries 200] [--vectors] [--elasticsearch-url URL] [--breakdown N]

Posts come from the simulator at 5,000 a day, built directly as enriched posts (district,
category, relevance from the simulator's truth: this measures the index, not the enrich
stage) and indexed in bulk batches of `--batch`, as `radar index rebuild` does. `--vectors`
also indexes each post's 384-d embedding (the benchmark's char n-gram projection standing in
for e5-small's vectors: the shape is what costs). Without `--elasticsearch-url`
(or ELASTICSEARCH_URL) the Elasticsearch backend is the local stand-in server (PyPI
noida-db), started and stopped here; its figures are the stand-in's, not a real cluster's.

Then `--queries` searches (0: bulk rate only), each two words that occur in the corpus (路灯 坏了, 噪音 扰民, ...)
with a district filter and the last 30 days, relevant posts only, first page of 20: p50 / p95 /
max milliseconds and the mean hits. Last line: one JSON object.

`--breakdown` (Elasticsearch) also times the parts of that query sent alone over the same
phrases: the filters only, the phrase clauses only, the whole query without highlights and
sorting, and the whole query. It says where a server spends the time. On the noida-db stand-in
the phrase clauses cost it all, in proportion to the posts indexed, filtered or not (it reads
every document per query: the phrases alone took 0.73 s at 10k posts and 1.7 s at 20k; the whole
query's p50 was 5.5 s at 50k, on 2 busy cores). So its latency at 1M posts (past the client's
30 s timeout) would measure the stand-in, not this index; a real cluster answers from its
inverted index.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import tempfile
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

import numpy as np

from benchmarks.clustering_scale import ProjectedEmbedder, rss_mb
from benchmarks.pipeline import to_post
from core.models import EnrichedPost, Enrichment
from core.search import PostQuery
from core.store import Store
from crawlers.simulator.corpus import generate

# Two words each, as an analyst types them; each pair occurs in the simulator's posts.
PHRASES = ["路灯 坏了", "噪音 扰民", "井盖 丢失", "垃圾 没人", "电梯 困人", "消防通道 堵死", "夜宵摊 很吵",
           "外墙 墙皮", "盲道 破坏", "停水 通知", "工地 施工", "违停 人行道", "健身器材 损坏", "门禁 坏了",
           "美容院 跑路", "积水 下雨", "红绿灯 不亮", "油烟 扰民", "树木 倒了", "共享单车 乱停"]
END = datetime(2026, 11, 22, tzinfo=timezone.utc)


def enriched(sim, truth) -> EnrichedPost:
    post = to_post(sim, END)
    return EnrichedPost(post, Enrichment(post.id, post.text, truth.relevant, 0.9 if truth.relevant else 0.1,
                                         truth.category, truth.district, truth.street))


def open_backend(kind: str, store: Store, url: str | None):
    if kind == "embedded":
        from core.search.embedded import EmbeddedSearch
        return EmbeddedSearch(store)
    from core.search.elastic import ElasticSearch
    index = ElasticSearch(url, store=store, prefix=f"bench{os.getpid()}")
    index.reset()
    return index


def index_all(index, args, embedder) -> tuple[int, float, list[str]]:
    """Index the corpus in batches; (posts, seconds, districts seen)."""
    batch: list[EnrichedPost] = []
    districts: set[str] = set()
    total, seconds = 0, 0.0

    def flush() -> None:
        nonlocal total, seconds
        vectors = None
        if embedder is not None:
            encoded = embedder.encode([ep.post.text for ep in batch])
            vectors = {ep.id: v for ep, v in zip(batch, encoded)}
        started = time.perf_counter()
        index.index_posts(batch, vectors)
        seconds += time.perf_counter() - started
        total += len(batch)
        if total % (args.batch * 20) == 0:
            print(f"  {index.name}: {total:9d} posts indexed, {total / seconds:8.0f} posts/s, "
                  f"rss {rss_mb():6.0f} MB", flush=True)

    for sim, truth in generate(args.seed, args.posts, END, days=max(1, args.posts // 5000)):
        ep = enriched(sim, truth)
        if ep.enrichment.district:
            districts.add(ep.enrichment.district)
        batch.append(ep)
        if len(batch) == args.batch:
            flush()
            batch = []
    if batch:
        flush()
    started = time.perf_counter()
    index.refresh()
    seconds += time.perf_counter() - started
    return total, seconds, sorted(districts)


def query_latency(index, districts: list[str], n: int, seed: int) -> dict:
    rng = np.random.default_rng(seed)
    since = END - timedelta(days=30)
    timings, hits = [], []
    for i in range(n + 10):
        q = PostQuery(PHRASES[i % len(PHRASES)], district=districts[int(rng.integers(len(districts)))],
                      since=since, relevant_only=True, size=20)
        started = time.perf_counter()
        page = index.search_posts(q)
        if i >= 10:  # the first ten warm caches
            timings.append((time.perf_counter() - started) * 1000)
            hits.append(page.total)
    timings.sort()
    return {"queries": n, "p50_ms": round(statistics.median(timings), 2),
            "p95_ms": round(timings[int(0.95 * (len(timings) - 1))], 2), "max_ms": round(timings[-1], 2),
            "mean_hits": round(statistics.mean(hits), 1), "queries_with_hits": sum(1 for h in hits if h)}


def query_breakdown(index, districts: list[str], n: int, seed: int) -> dict[str, float]:
    """Median milliseconds of the search's parts sent alone, over `n` phrases (Elasticsearch)."""
    from core.search.elastic import iso, phrase_clauses

    rng = np.random.default_rng(seed)
    since = iso(END - timedelta(days=30))
    timings: dict[str, list[float]] = {"filters": [], "phrases": [], "bare": [], "whole": []}
    for i in range(n):
        filters = [{"term": {"district": districts[int(rng.integers(len(districts)))]}},
                   {"range": {"published_at": {"gte": since}}}, {"term": {"relevant": True}}]
        must = phrase_clauses(PostQuery(PHRASES[i % len(PHRASES)]).terms, ["title", "text"])
        bodies = {"filters": {"query": {"bool": {"filter": filters}}},
                  "phrases": {"query": {"bool": {"must": must}}},
                  "bare": {"query": {"bool": {"must": must, "filter": filters}}},
                  "whole": {"query": {"bool": {"must": must, "filter": filters}}, "track_total_hits": True,
                            "sort": [{"published_at": "desc"}, {"post_id": "asc"}],
                            "highlight": {"fields": {f"{f}.{sub}": {} for f in ("title", "text")
                                                     for sub in ("exact", "char")}}}}
        for part, body in bodies.items():
            started = time.perf_counter()
            index.es.search(index=index.posts_alias, size=21, **body)
            timings[part].append((time.perf_counter() - started) * 1000)
    return {f"{part}_ms": round(statistics.median(t), 1) for part, t in timings.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--posts", type=int, default=100_000)
    parser.add_argument("--batch", type=int, default=5_000)
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--backend", choices=("embedded", "elasticsearch", "both"), default="both")
    parser.add_argument("--vectors", action="store_true", help="index each post's 384-d embedding too")
    parser.add_argument("--elasticsearch-url", default=os.environ.get("ELASTICSEARCH_URL"))
    parser.add_argument("--breakdown", type=int, default=0, metavar="N",
                        help="Elasticsearch: also time the query's parts alone over N phrases")
    args = parser.parse_args()
    if args.posts < 1 or args.batch < 1 or args.queries < 0 or args.breakdown < 0:
        parser.error("--posts and --batch must be positive, --queries and --breakdown at least 0 (0: bulk rate only)")

    kinds = ["embedded", "elasticsearch"] if args.backend == "both" else [args.backend]
    embedder = ProjectedEmbedder() if args.vectors else None
    figures: dict = {"posts": args.posts, "vectors": args.vectors}
    with tempfile.TemporaryDirectory() as tmp:
        server = None
        url = args.elasticsearch_url
        if "elasticsearch" in kinds and not url:
            from tests.search.server import start_stand_in
            (Path(tmp) / "es").mkdir()
            url, server = start_stand_in(Path(tmp) / "es")
            figures["elasticsearch"] = "noida-db stand-in (local)"
        try:
            for kind in kinds:
                store = Store.open(f"sqlite:///{Path(tmp) / (kind + '.db')}")
                index = open_backend(kind, store, url)
                print(f"{kind}: indexing {args.posts} posts in batches of {args.batch} ...", flush=True)
                total, seconds, districts = index_all(index, args, embedder)
                figures[kind] = {"indexed": index.count_posts(), "bulk_posts_per_s": round(total / seconds),
                                 "index_s": round(seconds, 1)}
                print(f"{kind}: {total} posts in {seconds:.1f} s ({total / seconds:.0f} posts/s)", flush=True)
                if args.breakdown and kind == "elasticsearch":
                    parts = query_breakdown(index, districts, args.breakdown, args.seed)
                    figures[kind]["breakdown"] = parts
                    print(f"{kind}: median ms of the query's parts alone: " +
                          ", ".join(f"{k[:-3]} {v}" for k, v in parts.items()), flush=True)
                if args.queries:
                    latency = query_latency(index, districts, args.queries, args.seed)
                    figures[kind].update(latency)
                    print(f"{kind}: search p50 {latency['p50_ms']} ms, p95 {latency['p95_ms']} ms, max "
                          f"{latency['max_ms']} ms over {latency['queries']} two-word queries with filters "
                          f"({latency['queries_with_hits']} with hits, {latency['mean_hits']} hits on average)",
                          flush=True)
                index.close()
                store.close()
        finally:
            if server is not None:
                from tests.search.server import stop_group
                stop_group(server)
    figures["peak_rss_mb"] = round(rss_mb(), 1)
    print(json.dumps(figures, ensure_ascii=False))


if __name__ == "__main__":
    main()
