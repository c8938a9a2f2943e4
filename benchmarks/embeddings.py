"""Embedding speed and paraphrase quality of the configured model (default multilingual-e5-small).

    python -m benchmarks.embeddings [--real 1000] [--sim-posts 3000]

1. Speed on real messages (../shared/data/teddy2020_messages_with_votes.csv, 留言主题 + 留言详情,
   cut to max_chars as in the pipeline), on short simulator posts, and re-reading the store cache.
2. Paraphrase check on the simulator's truth: for each original post about a problem that has
   at least two such posts, is its nearest neighbour (cosine, itself excluded) a post about the
   same problem? Reposts and quotes are left out (they copy the original's words). Two pools:
   the relevant posts only, and every post including noise and same-place traps. e5 against
   char 1-2-gram TF-IDF. Last line: one JSON object.
"""
from __future__ import annotations

import argparse
import csv
import json
import os
import tempfile
import time
from datetime import datetime

import numpy as np
from sklearn.feature_extraction.text import TfidfVectorizer

from clustering.embedding_cache import embed_posts
from clustering.embeddings import default_embedder
from core.models import EnrichedPost, Enrichment
from core.settings import REPO_ROOT
from core.store import Store
from crawlers.simulator.corpus import generate
from enrichment.normalize import normalize

REAL = REPO_ROOT.parent / "shared" / "data" / "teddy2020_messages_with_votes.csv"


def real_texts(limit: int) -> list[str]:
    if not REAL.is_file():
        return []
    with open(REAL, encoding="utf-8-sig", newline="") as f:
        rows = list(csv.DictReader(f))
    texts = [normalize(f"{r['留言主题']}\n{r['留言详情']}").text for r in rows]
    return [t for t in texts if t][:limit or None]


def nn_same_problem(vectors: np.ndarray, labels: list[str | None], queries: list[int]) -> float:
    sims = vectors[queries] @ vectors.T
    sims[np.arange(len(queries)), queries] = -np.inf
    nearest = sims.argmax(axis=1)
    hits = sum(labels[j] is not None and labels[j] == labels[q] for q, j in zip(queries, nearest))
    return hits / len(queries) if queries else 0.0


def paraphrase_nn(vectors: np.ndarray, keep: list) -> dict:
    """Nearest-neighbour paraphrase accuracy over the simulator's (post, truth) pairs `keep`
    (reposts and quotes left out), vectors in the same order: queries are original posts about a
    problem with >= 2 such posts; pools: the relevant posts only, and every post."""
    labels = [tr.problem_id if tr.relevant else None for _, tr in keep]
    counts: dict[str, int] = {}
    for _, tr in keep:
        if tr.relevant and tr.kind == "problem":
            counts[tr.problem_id] = counts.get(tr.problem_id, 0) + 1
    queries = [i for i, (_, tr) in enumerate(keep)
               if tr.relevant and tr.kind == "problem" and counts[tr.problem_id] >= 2]
    relevant = [i for i, (_, tr) in enumerate(keep) if tr.relevant]
    pos_in_rel = {j: k for k, j in enumerate(relevant)}
    q_rel = [pos_in_rel[i] for i in queries]
    lab_rel = [labels[i] for i in relevant]
    return {"queries": len(queries), "pool_relevant": len(relevant), "pool_all": len(keep),
            "relevant_pool": round(nn_same_problem(vectors[relevant], lab_rel, q_rel), 4),
            "all_pool": round(nn_same_problem(vectors, labels, queries), 4)}


def rate(n: int, seconds: float) -> float:
    return round(n / seconds, 1) if seconds > 0 else 0.0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--real", type=int, default=1000, help="real messages to time (0 = all 4,320)")
    ap.add_argument("--sim-posts", type=int, default=3000)
    ap.add_argument("--seed", type=int, default=7)
    args = ap.parse_args()
    result: dict = {"threads": int(os.environ.get("OMP_NUM_THREADS", "0")) or os.cpu_count()}

    t = time.perf_counter()
    emb = default_embedder()
    result["model"] = emb.name
    result["load_s"] = round(time.perf_counter() - t, 2)
    emb.encode(["预热 warm-up"])

    texts = real_texts(args.real)
    if texts:
        t = time.perf_counter()
        emb.encode(texts)
        s = time.perf_counter() - t
        result["real"] = {"texts": len(texts), "mean_chars": round(float(np.mean([len(x) for x in texts])), 1),
                          "sent_per_s": rate(len(texts), s)}
        print(f"real messages: {len(texts)} (mean {result['real']['mean_chars']} chars, cut to "
              f"{emb.max_chars}): {result['real']['sent_per_s']} sentences/s")
    else:
        print(f"real messages: {REAL} not found, skipped")

    pairs = list(generate(args.seed, args.sim_posts, datetime(2026, 11, 20, 12, 0)))
    keep = [(p, tr) for p, tr in pairs if tr.kind not in ("repost", "quote")]
    sim_texts = [normalize("\n".join(x for x in (p.title, p.text) if x)).text for p, _ in keep]

    with tempfile.TemporaryDirectory() as tmp:
        store = Store.open(f"sqlite:///{tmp}/bench.db")
        posts = [_enriched(tr.post_id, text) for (_, tr), text in zip(keep, sim_texts)]
        t = time.perf_counter()
        e5 = embed_posts(store, emb, posts)
        cold = time.perf_counter() - t
        t = time.perf_counter()
        again = embed_posts(store, emb, posts)
        warm = time.perf_counter() - t
        store.close()
    assert np.array_equal(e5, again)
    unique = len({p.enrichment.text_hash for p in posts})
    result["simulator_speed"] = {"posts": len(posts), "unique_texts": unique,
                                 "mean_chars": round(float(np.mean([len(x) for x in sim_texts])), 1),
                                 "sent_per_s": rate(unique, cold), "cached_posts_per_s": rate(len(posts), warm)}
    print(f"simulator posts: {len(posts)} ({unique} unique, mean "
          f"{result['simulator_speed']['mean_chars']} chars): {result['simulator_speed']['sent_per_s']} "
          f"sentences/s computed+cached, {result['simulator_speed']['cached_posts_per_s']} posts/s from cache")

    tfidf = TfidfVectorizer(analyzer="char", ngram_range=(1, 2), sublinear_tf=True).fit_transform(sim_texts)
    tfidf = tfidf.toarray().astype(np.float32)  # rows are L2-normalized by TfidfVectorizer

    para = {}
    for name, vecs in (("e5", e5), ("tfidf_char12", tfidf)):
        scores = paraphrase_nn(vecs, keep)
        para.update(queries=scores.pop("queries"), pool_relevant=scores.pop("pool_relevant"),
                    pool_all=scores.pop("pool_all"))
        para[name] = scores
        print(f"paraphrase NN, {name:>12}: {para[name]['relevant_pool']:.1%} with relevant posts only, "
              f"{para[name]['all_pool']:.1%} among all {len(keep)} posts (noise, traps)")
    result["paraphrase_nn"] = para
    print(json.dumps(result, ensure_ascii=False))


def _enriched(post_id: str, text: str) -> EnrichedPost:
    from core.models import Engagement, Post
    platform, native = post_id.split(":", 1)
    at = datetime(2026, 11, 20, 12, 0).astimezone()
    post = Post(platform=platform, native_id=native, url=f"sim://{post_id}", author_hash="a",
                author_name="a", title=None, text=text, published_at=at, crawled_at=at,
                engagement=Engagement())
    h = normalize(text).text_hash
    return EnrichedPost(post, Enrichment(post_id=post_id, normalized_text=text, relevant=True,
                                         relevance_score=1.0, category=None, district=None,
                                         street=None, reasons=(), text_hash=h))


if __name__ == "__main__":
    main()
