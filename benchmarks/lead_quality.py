"""How well leads match the simulator's ground-truth problems, after the demo's full pass
(simulator → Scrapy crawl → enrich → cluster).

    python -m benchmarks.lead_quality --posts 1500

precision: share of leads that stand for a real problem no earlier lead already stands for
(a lead stands for the problem most of its posts belong to); recall: share of real problems
with at least two crawled posts that got a lead; pairwise precision/recall/F1 over pairs of
posts put in one lead versus pairs from one problem. Last line: one JSON object.
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import tempfile
from collections import Counter
from itertools import combinations
from pathlib import Path

from core.config import load_config
from core.settings import REPO_ROOT, Settings
from core.store import Store
from pipeline.demo import demo_end, run_demo_pass


def pairs(groups: dict[str, list[str]]) -> set[tuple[str, str]]:
    return {tuple(sorted(p)) for members in groups.values() for p in combinations(members, 2)}


def evaluate(store: Store, truth) -> dict:
    by_post = {t.post_id: t for t in truth}
    total, leads = store.leads.list(limit=100_000)
    members = store.leads.member_ids([l.id for l in leads])
    stored = {p.id for p in store.posts.get(list(by_post))}
    problems: dict[str, list[str]] = {}
    for t in truth:
        if t.problem_id and t.post_id in stored:
            problems.setdefault(t.problem_id, []).append(t.post_id)
    claimed: set[str] = set()
    good = noise_posts = 0
    for lead in leads:
        votes = Counter(by_post[p].problem_id for p in members[lead.id] if p in by_post)
        noise_posts += votes.pop(None, 0)
        if votes:
            problem, _ = votes.most_common(1)[0]
            if problem not in claimed:
                claimed.add(problem)
                good += 1
    findable = {pid for pid, posts in problems.items() if len(posts) >= 2}
    predicted = pairs(members)
    actual = pairs({pid: posts for pid, posts in problems.items()})
    tp = len(predicted & actual)
    pp = tp / len(predicted) if predicted else 0.0
    pr = tp / len(actual) if actual else 0.0
    return {
        "leads": total,
        "problems_findable": len(findable),
        "precision": round(good / total, 4) if total else 0.0,
        "recall": round(len(claimed & findable) / len(findable), 4) if findable else 0.0,
        "pairwise_precision": round(pp, 4),
        "pairwise_recall": round(pr, 4),
        "pairwise_f1": round(2 * pp * pr / (pp + pr), 4) if pp + pr else 0.0,
        "noise_posts_in_leads": noise_posts,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--posts", type=int, default=1500)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--algorithm", choices=("average", "hdbscan"), default=None,
                        help="residual clusterer (default: config/radar.yaml)")
    args = parser.parse_args()
    config = load_config(REPO_ROOT / "config")
    if args.algorithm:
        clustering = config.radar.clustering.model_copy(update={"algorithm": args.algorithm})
        config = dataclasses.replace(config, radar=config.radar.model_copy(update={"clustering": clustering}))
    with tempfile.TemporaryDirectory() as tmp:
        store = Store.open(f"sqlite:///{Path(tmp) / 'quality.db'}")
        summary, _, truth = run_demo_pass(store, config, Settings(), seed=args.seed, posts=args.posts,
                                          end=demo_end())
        figures = {**summary.as_dict(), **evaluate(store, truth)}
        store.close()
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
