"""What the simulator's truth lets any text clusterer reach: pairwise F1 of oracle groupings.

    python -m benchmarks.simulator_ceiling --posts 300000

No clustering runs. The simulator's posts about problems are grouped by their true issue and
place plus (a) the spot only when the post's text names it (what text can tell), or (b) the
true spot of every post (perfect knowledge), and scored as benchmarks.clustering_scale scores
leads: against the strict problem ids, and against the recurrence-aware truth (the same issue,
place and spot back within reopen_days is one problem, as issue 13 part 1 asks). At 5,000 posts
a day the strict ids split recurrences that part 1 keeps together, so the strict figure has a
low ceiling by construction. Last line: one JSON object.
"""
from __future__ import annotations

import argparse
import json
from collections import Counter
from datetime import datetime, timezone

from benchmarks.clustering_scale import recurrence_chains
from core.config import load_config
from core.settings import REPO_ROOT
from crawlers.simulator.corpus import generate


def pairwise(pred: dict, gold: dict) -> dict:
    def pairs(c: Counter) -> int:
        return sum(v * (v - 1) // 2 for v in c.values())
    tp = pairs(Counter((pred[p], gold[p]) for p in gold))
    pp, ap = pairs(Counter(pred.values())), pairs(Counter(gold.values()))
    precision, recall = (tp / pp if pp else 0.0), (tp / ap if ap else 0.0)
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {"precision": round(precision, 4), "recall": round(recall, 4), "f1": round(f1, 4)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--posts", type=int, default=300_000)
    parser.add_argument("--per-day", type=int, default=5_000)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    reopen_days = load_config(REPO_ROOT / "config").radar.clustering.reopen_days
    end = datetime(2026, 11, 22, tzinfo=timezone.utc)
    truth, named, spans = {}, {}, {}
    for sim, t in generate(args.seed, args.posts, end, days=max(1, args.posts // args.per_day)):
        if not t.problem_id:
            continue
        truth[t.post_id] = t
        named[t.post_id] = bool(t.spot) and t.spot in f"{sim.title or ''}{sim.text}"
        at = sim.published_at.timestamp()
        key, first, last = spans.get(t.problem_id, ((t.issue, t.place, t.spot), at, at))
        spans[t.problem_id] = (key, min(first, at), max(last, at))
    chain = recurrence_chains(spans, reopen_days)
    strict = {p: t.problem_id for p, t in truth.items()}
    recurrent = {p: chain[t.problem_id] for p, t in truth.items()}
    text_spot = {p: (t.issue, t.place, t.spot if named[p] else None) for p, t in truth.items()}
    true_spot = {p: (t.issue, t.place, t.spot) for p, t in truth.items()}
    figures = {"posts": args.posts, "problem_posts": len(truth),
               "spot_posts": sum(1 for t in truth.values() if t.spot), "spot_named": sum(named.values())}
    for name, pred in (("text_spot", text_spot), ("true_spot", true_spot)):
        for against, gold in (("strict", strict), ("recurrence", recurrent)):
            figures[f"{name}_{against}"] = pairwise(pred, gold)
            print(f"oracle {name:9s} vs {against:10s} truth: {figures[f'{name}_{against}']}", flush=True)
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
