"""Candidate leads by kNN on the embedded index: one cluster batch's lookup (issue 14).

    python -m benchmarks.knn_lookup [--leads 20000] [--posts 10000] [--districts 7] [--k 20]

`--leads` leads with random 384-d centroids, spread over `--districts` districts, are indexed in
a throw-away SQLite store; then one `candidate_leads_many` call asks for the `--k` nearest
centroids of each of `--posts` posts (one in ten names no district), as the cluster stage does
for a batch with `clustering.candidates: knn`. The simulator's 1M-post run (5,000 posts a day,
batches of 10k) creates about 550 leads a batch, so the 60-day reopen window holds about 17k
leads. Printed: seconds for the lookup (reading the centroids and scoring). Last line: one JSON
object.
"""
from __future__ import annotations

import argparse
import json
import tempfile
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

import numpy as np

from core.models import Lead, LeadStatus, PriorityParts
from core.search.embedded import EmbeddedSearch
from core.store import Store

END = datetime(2026, 11, 22, tzinfo=timezone.utc)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--leads", type=int, default=20_000)
    parser.add_argument("--posts", type=int, default=10_000)
    parser.add_argument("--districts", type=int, default=7)
    parser.add_argument("--k", type=int, default=20)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    if min(args.leads, args.posts, args.districts, args.k) < 1:
        parser.error("--leads, --posts, --districts and --k must be positive")

    rng = np.random.default_rng(args.seed)
    districts = [f"区{n}" for n in range(args.districts)]
    leads = [Lead(id=f"L{n:08d}", status=LeadStatus.NEW, title=f"问题{n}", category="城市管理",
                  district=districts[n % args.districts], street=None, unit=None, urgent=False, priority=0.5,
                  priority_parts=PriorityParts(), post_count=2, platform_count=1,
                  first_seen=END - timedelta(days=60), last_seen=END - timedelta(days=int(rng.integers(0, 60))))
             for n in range(args.leads)]
    centroids = {lead.id: rng.normal(size=384).astype(np.float32) for lead in leads}
    queries = rng.normal(size=(args.posts, 384)).astype(np.float32)
    asking = [None if n % 10 == 0 else districts[int(rng.integers(args.districts))] for n in range(args.posts)]

    with tempfile.TemporaryDirectory() as tmp:
        store = Store.open(f"sqlite:///{Path(tmp) / 'knn.db'}")
        index = EmbeddedSearch(store)
        started = time.perf_counter()
        index.index_leads(leads, centroids=centroids, points={})
        indexed_s = time.perf_counter() - started
        started = time.perf_counter()
        hits = index.candidate_leads_many(queries, asking, since=END - timedelta(days=60), k=args.k)
        lookup_s = time.perf_counter() - started
        store.close()
    found = sum(len(h) for h in hits)
    print(f"{args.leads} leads indexed in {indexed_s:.1f} s; {args.posts} posts' {args.k} nearest leads in "
          f"{lookup_s:.2f} s ({args.posts / lookup_s:.0f} posts/s), {found} hits", flush=True)
    print(json.dumps({"leads": args.leads, "posts": args.posts, "k": args.k, "index_s": round(indexed_s, 2),
                      "lookup_s": round(lookup_s, 3), "posts_per_s": round(args.posts / lookup_s), "hits": found}))


if __name__ == "__main__":
    main()
