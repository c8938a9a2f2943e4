"""Enrichment quality against the synthetic corpus's ground truth.

    python -m benchmarks.enrichment_quality --posts 5000 [--seed 7] [--show 10] [--model DIR]

Prints relevance precision/recall, category accuracy on truly relevant posts, district and
street accuracy (on posts whose truth names one), how many relevant posts got a catalogue item,
a responsible unit and urgency, and enrichment throughput of the lexical path; with `--model`
also the throughput of the supervised model's inference alone (reported separately: it is not
on the lexical path). The last line is one JSON object of those figures. `--show N` prints N
mistakes of each kind for tuning.
"""
from __future__ import annotations

import argparse
import json
import time
from datetime import datetime, timezone

from core.config import load_config
from core.settings import REPO_ROOT
from crawlers.simulator.corpus import generate
from core.models import Enrichment, Post
from enrichment.enricher import Enricher


def to_post(sim) -> Post:
    reposted = f"{sim.platform}:{sim.reposted_native_id}" if sim.reposted_native_id else None
    return Post(platform=sim.platform, native_id=sim.native_id, url=f"sim://{sim.post_id}",
                author_hash="", author_name=sim.author_name, title=sim.title, text=sim.text,
                published_at=sim.published_at, crawled_at=sim.published_at, geotag=sim.geotag,
                reposted_id=reposted)


def ratio(a: int, b: int) -> float:
    return round(a / b, 4) if b else 0.0


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--posts", type=int, default=5000)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--show", type=int, default=0, help="print N mistakes of each kind")
    parser.add_argument("--model", default=None, help="a `radar train classifier` directory to time")
    args = parser.parse_args(argv)

    enricher = Enricher(load_config(REPO_ROOT / "config"))
    end = datetime(2026, 11, 20, tzinfo=timezone.utc)
    corpus = [(to_post(sim), truth) for sim, truth in generate(args.seed, args.posts, end)]

    # In time order, as the stage sees them: a repost inherits from its enriched original.
    start = time.perf_counter()
    done: dict[str, Enrichment] = {}
    for post, _ in corpus:
        done[post.id] = enricher.enrich(post, done.get(post.reposted_id) if post.reposted_id else None)
    seconds = time.perf_counter() - start

    model_rate = None
    if args.model:
        from enrichment.model import TextClassifier
        model = TextClassifier.load(args.model)
        texts = [post.full_text for post, _ in corpus]
        start = time.perf_counter()
        model.predict(texts)
        model_rate = round(len(texts) / (time.perf_counter() - start))

    tp = fp = fn = 0
    with_item = with_unit = urgent = 0
    cat_ok = cat_n = dist_ok = dist_n = street_ok = street_n = 0
    mistakes: dict[str, list[str]] = {"fp": [], "fn": [], "category": [], "district": [], "street": []}
    for post, truth in corpus:
        e = done[post.id]
        short = post.full_text.replace("\n", " ")[:90]
        why = " ".join(e.reasons)
        if e.relevant and truth.relevant:
            tp += 1
        elif e.relevant:
            fp += 1
            mistakes["fp"].append(f"{e.relevance_score:.2f} {short} | {why}")
        elif truth.relevant:
            fn += 1
            mistakes["fn"].append(f"{e.relevance_score:.2f} {short} | {why}")
        if not truth.relevant:
            continue
        with_item += e.item is not None
        with_unit += e.unit is not None
        urgent += e.urgent
        if truth.category:
            cat_n += 1
            cat_ok += e.category == truth.category
            if e.category != truth.category:
                mistakes["category"].append(f"{truth.category}≠{e.category} {short} | {why}")
        if truth.district:
            dist_n += 1
            dist_ok += e.district == truth.district
            if e.district != truth.district:
                mistakes["district"].append(f"{truth.district}≠{e.district} [{post.geotag}] {short} | {why}")
        if truth.street:
            street_n += 1
            street_ok += e.street == truth.street
            if e.street != truth.street:
                mistakes["street"].append(f"{truth.street}≠{e.street} {short} | {why}")

    figures = {
        "posts": len(corpus),
        "relevance_precision": ratio(tp, tp + fp),
        "relevance_recall": ratio(tp, tp + fn),
        "category_accuracy": ratio(cat_ok, cat_n),
        "district_accuracy": ratio(dist_ok, dist_n),
        "street_accuracy": ratio(street_ok, street_n),
        "item_share": ratio(with_item, tp + fn),
        "unit_share": ratio(with_unit, tp + fn),
        "urgent_share": ratio(urgent, tp + fn),
        "texts_per_second": round(len(corpus) / seconds) if seconds else 0,
    }
    if model_rate is not None:
        figures["model_texts_per_second"] = model_rate
    if args.show:
        for kind, items in mistakes.items():
            print(f"--- {kind}: {len(items)}")
            for line in items[:args.show]:
                print("   ", line)
    print(f"posts {figures['posts']}  (relevant in truth: {tp + fn})")
    print(f"relevance precision {figures['relevance_precision']:.3f}  recall {figures['relevance_recall']:.3f}")
    print(f"category accuracy on relevant posts {figures['category_accuracy']:.3f} (n={cat_n})")
    print(f"district accuracy {figures['district_accuracy']:.3f} (n={dist_n})  "
          f"street accuracy {figures['street_accuracy']:.3f} (n={street_n})")
    print(f"relevant posts with an item {figures['item_share']:.3f}, with a unit "
          f"{figures['unit_share']:.3f}, urgent {figures['urgent_share']:.3f}")
    print(f"enrichment {figures['texts_per_second']} texts/s (lexical path)")
    if model_rate is not None:
        print(f"supervised model inference alone {model_rate} texts/s")
    print(json.dumps(figures, ensure_ascii=False))
    return figures


if __name__ == "__main__":
    main()
