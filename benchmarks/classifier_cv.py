"""Category classifier accuracy: stratified k-fold cross-validation of enrichment.model on a
labelled CSV, plus a spot-check on raw (unsegmented) messages.

    python -m benchmarks.classifier_cv [--input ../shared/data/teddy2020_messages_train_tokenized.csv]
        [--folds 5] [--raw ../shared/data/teddy2020_messages_with_votes.csv] [--show 10]

Prints per-fold accuracy, the mean (the done-when figure is >= 0.93 on the 2020 contest's
training file), training and prediction speed, and, when --raw is given, a model trained on all
labelled rows labelling the raw file's titles+bodies: the label distribution next to the
training one and a few examples (no labels there: a spot-check that it does not collapse into
one class). The last line is one JSON object of the figures.
"""
from __future__ import annotations

import argparse
import json
import time
from collections import Counter

import numpy as np
from sklearn.model_selection import StratifiedKFold

from core.settings import REPO_ROOT
from enrichment.dataset import read_table
from enrichment.model import TextClassifier

DATA = REPO_ROOT.parent / "shared" / "data"


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--input", default=str(DATA / "teddy2020_messages_train_tokenized.csv"))
    parser.add_argument("--text-column", default="text_tokens")
    parser.add_argument("--label-column", default="label")
    parser.add_argument("--folds", type=int, default=5)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--raw", default=None, help="raw CSV with 留言主题,留言详情 to spot-check")
    parser.add_argument("--show", type=int, default=8)
    args = parser.parse_args(argv)

    table = read_table(args.input, [args.text_column], args.label_column)
    rows = table.usable
    texts = [r.text for r in rows]
    labels = np.array([r.label for r in rows])
    print(f"{args.input}: {len(rows)} usable rows ({dict(table.counts)})")
    folds = StratifiedKFold(args.folds, shuffle=True, random_state=args.seed)
    scores, train_s, predict_rate = [], 0.0, []
    for k, (tr, te) in enumerate(folds.split(texts, labels), 1):
        start = time.perf_counter()
        model = TextClassifier.train([texts[i] for i in tr], labels[tr].tolist())
        train_s += time.perf_counter() - start
        start = time.perf_counter()
        predicted = [label for label, _ in model.predict([texts[i] for i in te])]
        predict_rate.append(len(te) / (time.perf_counter() - start))
        acc = float(np.mean(np.array(predicted) == labels[te]))
        scores.append(acc)
        print(f"fold {k}: accuracy {acc:.4f}", flush=True)
    figures = {"rows": len(rows), "folds": args.folds, "accuracy_mean": round(float(np.mean(scores)), 4),
               "accuracy_min": round(float(np.min(scores)), 4),
               "train_seconds_per_fold": round(train_s / args.folds, 1),
               "predict_texts_per_second": round(float(np.median(predict_rate)))}
    print(f"{args.folds}-fold accuracy {figures['accuracy_mean']:.4f} (min {figures['accuracy_min']:.4f})")

    if args.raw:
        model = TextClassifier.train(texts, labels.tolist())
        raw = read_table(args.raw, ["留言主题", "留言详情"]).usable
        predicted = model.predict([r.text for r in raw])
        dist = Counter(label for label, _ in predicted)
        train_dist = Counter(labels.tolist())
        print(f"raw spot-check on {args.raw}: {len(raw)} messages")
        for label, n in train_dist.most_common():
            print(f"  {label:8s} train {n / len(labels):.3f}  raw {dist.get(label, 0) / len(raw):.3f}")
        for r, (label, conf) in list(zip(raw, predicted))[:args.show]:
            print(f"  {label} {conf:.2f}  {r.text.replace(chr(10), ' ')[:60]}")
        figures["raw_rows"] = len(raw)
        figures["raw_largest_class_share"] = round(max(dist.values()) / len(raw), 3)
        figures["raw_mean_confidence"] = round(float(np.mean([c for _, c in predicted])), 3)
    print(json.dumps(figures, ensure_ascii=False))
    return figures


if __name__ == "__main__":
    main()
