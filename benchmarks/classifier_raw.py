"""Category classifier on raw messages: train on the tokenized contest file (plus the raw messages
labelled by their official reply), measure on the raw labelled dev file (issue 13, part 3).

    python -m benchmarks.classifier_raw [--train ../shared/data/teddy2020_messages_train_tokenized.csv]
        [--dev ../shared/data/teddy2020_messages_dev_raw_labeled.csv] [--replies PATH | --no-replies]
        [--compare] [--validate] [--embeddings-cache /tmp/radar-e5]

Prints, for the kept model (`enrichment.model.TextClassifier` trained as `radar train category`
trains it: the training file plus `enrichment.reply_labels.reply_extra` of the with_replies file,
reposts of dev messages dropped by text): accuracy, macro-F1, per-class precision/recall/F1,
the most frequent confusions, calibration (expected calibration error over 10 bins; accuracy
of the 80% most confident predictions; share and accuracy of the predictions flagged
low-confidence), training time and prediction speed (one post per call, as the enrich stage
calls it).

`--compare` measures the options of `benchmarks.classifier_options` side by side on dev, and
with `--embeddings-cache` a logistic regression over multilingual-e5-small embeddings alone and
mixed with the kept model's probabilities (weight 0.2, picked earlier by 3-fold CV on the
training file; embeddings cached there as .npy; ~6-8 texts/s per core, so the 7,678 training
texts take ~20 min once). `--validate` adds the checks the kept option was chosen by (V1 CV on
the training file, V2 held-out reply labels, V3 raw repeats of training messages; ~2-3 min per
option on 2 cores) and names the option the selection rule picks.

The dev labels are used for the final measurement only: nothing is fitted, tuned or chosen on
them (dev texts are read before training only to drop their reposts from the extra data).
The last line is one JSON object of the kept model's figures (plus the comparison when run).
"""
from __future__ import annotations

import argparse
import json
import time
from collections import Counter
from pathlib import Path

import numpy as np
from sklearn.metrics import accuracy_score, f1_score, precision_recall_fscore_support

from benchmarks.classifier_options import KEPT, OPTIONS, Data, Prepared, choose, dev_predictions, validate
from core.settings import REPO_ROOT
from enrichment.dataset import read_table
from enrichment.model import TextClassifier
from enrichment.reply_labels import reply_extra, weak_examples
from enrichment.text import model_text

DATA = REPO_ROOT.parent / "shared" / "data"
RAW_COLUMNS = ["留言主题", "留言详情"]
REPLIES = "teddy2020_messages_with_replies.csv"
VOTES = "teddy2020_messages_with_votes.csv"


def ece(confidence: np.ndarray, correct: np.ndarray, bins: int = 10) -> float:
    edges = np.linspace(0.0, 1.0, bins + 1)
    total = 0.0
    for lo, hi in zip(edges[:-1], edges[1:]):
        sel = (confidence > lo) & (confidence <= hi)
        if sel.any():
            total += sel.mean() * abs(correct[sel].mean() - confidence[sel].mean())
    return float(total)


def top_share_accuracy(confidence: np.ndarray, correct: np.ndarray, share: float = 0.8) -> float:
    order = np.argsort(-confidence, kind="stable")
    keep = order[:max(1, int(round(share * len(order))))]
    return float(correct[keep].mean())


def _row(name: str, gold: np.ndarray, predicted: np.ndarray, checks: dict | None = None) -> dict:
    row = {"option": name, "accuracy": round(float(accuracy_score(gold, predicted)), 4),
           "macro_f1": round(float(f1_score(gold, predicted, average="macro")), 4), **(checks or {})}
    extra = ""
    if checks:
        extra = (f"  | V1 {checks['v1_train_cv']:.4f}  V2 {checks['v2_reply_labels']:.4f}"
                 f"  V3 {checks['v3_raw_repeats']:.4f}")
    print(f"  {name:66s} dev accuracy {row['accuracy']:.4f}  macro-F1 {row['macro_f1']:.4f}{extra}",
          flush=True)
    return row


def compare(data: Data, dev_texts, gold, kept_proba, classes, embeddings_cache: str | None,
            run_checks: bool) -> list[dict]:
    prep = Prepared()
    rows = []
    for option in OPTIONS:
        checks = validate(option, data, prep) if run_checks else None
        rows.append(_row(option.name, gold, dev_predictions(option, data, prep, dev_texts), checks))
    if run_checks:
        picked = choose(rows)
        print(f"  selection rule (best V3, ties by V2, V1 within 0.003 of the best) picks: {picked.strip()}")
        rows.append({"selection_rule_picks": picked})
    if embeddings_cache:
        from sklearn.linear_model import LogisticRegression
        cache = Path(embeddings_cache)
        cache.mkdir(parents=True, exist_ok=True)

        def embed(name, texts):
            path = cache / f"{name}.npy"
            if path.exists():
                return np.load(path)
            from clustering.embeddings import default_embedder
            x = default_embedder().encode([model_text(t) for t in texts])
            np.save(path, x)
            return x
        xtr, xdev = embed("train", data.train_x), embed("dev", dev_texts)
        lr = LogisticRegression(C=10.0, max_iter=3000).fit(xtr, data.train_y)
        pe = lr.predict_proba(xdev)
        rows.append(_row("e5-small embeddings + logistic regression (training file)", gold,
                         lr.classes_[pe.argmax(1)]))
        assert list(lr.classes_) == list(classes)
        rows.append(_row("ensemble: 0.8 x kept probs + 0.2 x e5 LR probs", gold,
                         classes[(0.8 * kept_proba + 0.2 * pe).argmax(1)]))
    return rows


def _speed(model: TextClassifier, texts: list[str]) -> float:
    start = time.perf_counter()
    for t in texts:
        model.predict_one(t)
    return len(texts) / (time.perf_counter() - start)


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--train", default=str(DATA / "teddy2020_messages_train_tokenized.csv"))
    parser.add_argument("--dev", default=str(DATA / "teddy2020_messages_dev_raw_labeled.csv"))
    parser.add_argument("--replies", default=None, help=f"with-replies CSV (default: {REPLIES} next to --train)")
    parser.add_argument("--no-replies", action="store_true", help="train on the training file only")
    parser.add_argument("--compare", action="store_true", help="measure the options side by side")
    parser.add_argument("--validate", action="store_true", help="with --compare: the non-dev checks too")
    parser.add_argument("--embeddings-cache", default=None,
                        help="directory for cached e5 embeddings (enables the embedding options)")
    args = parser.parse_args(argv)

    train = read_table(args.train, ["text_tokens"], "label").usable
    dev = read_table(args.dev, RAW_COLUMNS, "label").usable
    train_texts, train_labels = [r.text for r in train], [r.label for r in train]
    dev_texts, gold = [r.text for r in dev], np.array([r.label for r in dev])
    replies = Path(args.replies) if args.replies else Path(args.train).parent / REPLIES
    print(f"train {args.train}: {len(train)} rows; dev {args.dev}: {len(dev)} raw rows "
          f"({dict(Counter(gold.tolist()).most_common())})")

    start = time.perf_counter()
    extra, weak = None, None
    if not args.no_replies and replies.exists():
        extra, weak = reply_extra(replies, train_labels, exclude=dev_texts)
        print(f"reply labels {replies}: {len(weak.texts)} of {len(weak.texts) + len(weak.unlabelled)} "
              f"messages labelled ({dict(weak.counts.most_common())}); {len(weak.texts) - len(extra.texts)} "
              f"reposts of dev messages dropped; weights {min(extra.weights):.3f}-{max(extra.weights):.3f}")
    model = TextClassifier.train(train_texts, train_labels, extra=extra)
    train_s = time.perf_counter() - start
    classes = np.array(model.labels)
    proba = model.predict_proba(dev_texts)
    predicted = classes[proba.argmax(1)]
    confidence = proba.max(1)
    correct = predicted == gold
    acc = float(correct.mean())
    macro = float(f1_score(gold, predicted, average="macro"))
    print(f"kept model (temperature {model.temperature}, trained in {train_s:.0f}s incl. reading replies): "
          f"accuracy {acc:.4f}  macro-F1 {macro:.4f}")
    p, r, f, n = precision_recall_fscore_support(gold, predicted, labels=classes, zero_division=0)
    per_class = {}
    print(f"  {'label':10s} {'prec':>6s} {'recall':>6s} {'F1':>6s} {'n':>4s}")
    for c, pi, ri, fi, ni in zip(classes, p, r, f, n):
        per_class[str(c)] = {"precision": round(float(pi), 4), "recall": round(float(ri), 4),
                             "f1": round(float(fi), 4), "n": int(ni)}
        print(f"  {c:10s} {pi:6.3f} {ri:6.3f} {fi:6.3f} {ni:4d}")
    confusions = Counter((g, q) for g, q in zip(gold.tolist(), predicted.tolist()) if g != q)
    print(f"  errors {int((~correct).sum())}; most frequent (gold -> predicted):")
    for (g, q), k in confusions.most_common(8):
        print(f"    {g} -> {q}: {k}")
    flagged = confidence < model.low_confidence
    calib = {"ece": round(ece(confidence, correct), 4),
             "mean_confidence": round(float(confidence.mean()), 4),
             "top80_accuracy": round(top_share_accuracy(confidence, correct), 4),
             "low_confidence_threshold": model.low_confidence,
             "flagged_share": round(float(flagged.mean()), 4),
             "flagged_accuracy": round(float(correct[flagged].mean()), 4) if flagged.any() else None,
             "unflagged_accuracy": round(float(correct[~flagged].mean()), 4) if (~flagged).any() else None}
    print(f"  calibration: ECE {calib['ece']:.4f} (mean confidence {calib['mean_confidence']:.3f} "
          f"vs accuracy {acc:.3f}); top-80%-confidence accuracy {calib['top80_accuracy']:.4f}; "
          f"flagged (< {model.low_confidence}) {calib['flagged_share']:.1%}, accuracy "
          f"{calib['flagged_accuracy']} vs {calib['unflagged_accuracy']} unflagged")
    votes = Path(args.train).parent / VOTES
    posts = [r.text for r in read_table(votes, RAW_COLUMNS).usable][:1000] if votes.exists() else dev_texts
    speed = {"posts_per_s_full_messages": round(_speed(model, posts)),
             "posts_per_s_first_100_chars": round(_speed(model, [t[:100] for t in posts])),
             "mean_chars": round(float(np.mean([len(t) for t in posts])))}
    print(f"  speed (predict_one, one post per call): {speed['posts_per_s_full_messages']}/s on full "
          f"messages (mean {speed['mean_chars']} chars), {speed['posts_per_s_first_100_chars']}/s on "
          f"their first 100 chars")

    figures = {"train_rows": len(train), "extra_rows": len(extra.texts) if extra else 0,
               "dev_rows": len(dev), "accuracy": round(acc, 4), "macro_f1": round(macro, 4),
               "per_class": per_class, **calib, "temperature": model.temperature,
               "train_seconds": round(train_s, 1), **speed}
    if args.compare:
        unlabelled = list(weak.unlabelled) if weak else []
        if votes.exists():
            unlabelled += [r.text for r in read_table(votes, RAW_COLUMNS).usable]
        data = Data(train_texts, train_labels, list(weak.texts) if weak else [],
                    list(weak.labels) if weak else [], unlabelled)
        print(f"options side by side ({len(data.weak_x)} reply-labelled, {len(unlabelled)} unlabelled raw "
              f"messages; dev labels for measurement only; kept = {KEPT.name}):")
        figures["compare"] = compare(data, dev_texts, gold, proba, classes, args.embeddings_cache,
                                     args.validate)
    print(json.dumps(figures, ensure_ascii=False))
    return figures


if __name__ == "__main__":
    main()
