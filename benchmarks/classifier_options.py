"""The category-classifier options measured side by side by `benchmarks.classifier_raw
--compare`, and the checks used to choose among them without the dev labels (`--validate`).

An `Option` is a recipe: features (the previous raw-adapt/1 char n-grams, raw-adapt/2 char
n-grams, or raw-adapt/2 char + word n-grams, the kept one), the SVM's C, reply-labelled raw
messages added to training (`enrichment.reply_labels`: all of them or only those the base
model's top label agrees with; class-balanced or not; their weight), self-training on the
unlabelled raw messages (pseudo-labels whose top-two margin reaches a threshold), and title
weighting at predict time.

The checks (`validate`), none of which reads the dev file's labels:
- V1: 5-fold cross-validated accuracy on the tokenized training file (the annotators' labels,
  the training file's form); the extra rows join every training fold.
- V2: accuracy on held-out reply-labelled raw messages, 5 folds grouped by message start (raw
  form, but labelled by department, so it favours options trained on such labels).
In V1 and V2 the extra raw messages within char 3-gram TF-IDF cosine `NEAR_DUPLICATE` of a test
message (its reposts) are left out of that fold's training, as reposts of dev messages are.
- V3: accuracy on the raw messages (with_votes, with_replies) that repeat a training message
  (char 3-gram TF-IDF cosine >= 0.7: 306 messages), labelled by that training row; in each of 5
  folds the training rows, reply-labelled and unlabelled messages within cosine 0.5 of a test
  message are left out. Raw form and the annotators' labels: the closest to the dev set, but
  small.
Selection rule used for the kept model: the best V3, ties (within 0.005) broken by V2, among
options whose V1 is within 0.003 of the best V1.
"""
from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from joblib import Parallel, delayed
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.model_selection import GroupKFold, StratifiedKFold

from enrichment import raw_adapt
from enrichment.model import build_char_pipeline, build_pipeline
from enrichment.reply_labels import NEAR_DUPLICATE, WEIGHT


@dataclass(frozen=True)
class Option:
    name: str
    features: str = "char+word"   # "char+word" | "char" (raw-adapt/2) | "char-v1" (raw-adapt/1)
    c: float = 1.0
    weak: str = "none"            # "none" | "all" | "agree"
    weak_weight: float = WEIGHT
    balanced: bool = True
    self_train: float | None = None  # margin threshold for pseudo-labels
    self_train_weight: float = 0.3
    title: float = 0.0            # predict: margins + title x margins of the title alone


KEPT = Option("kept: raw-adapt/2 char+word C1 + reply labels (balanced, w 0.2)", weak="all")
OPTIONS = [
    Option("previous: raw-adapt/1 char 1-3 C3, training file only", features="char-v1", c=3.0),
    Option("raw-adapt/2 (jieba + derived stop words) char 1-3 C3", features="char", c=3.0),
    Option("raw-adapt/2 char 1-3 + word 1-2 C1", c=1.0),
    Option("raw-adapt/2 char 1-3 + word 1-2 C3", c=3.0),
    Option("raw-adapt/2 char+word C1 + title weighting 0.5", title=0.5),
    KEPT,
    Option("  reply labels balanced, weight 0.3", weak="all", weak_weight=0.3),
    Option("  reply labels balanced, weight 1.0", weak="all", weak_weight=1.0),
    Option("  reply labels unbalanced, weight 0.3", weak="all", weak_weight=0.3, balanced=False),
    Option("  reply labels where the base model agrees, weight 0.3", weak="agree", weak_weight=0.3,
           balanced=False),
    Option("raw-adapt/2 char+word C1 + self-training (margin >= 1, w 0.3)", self_train=1.0),
    Option("kept + self-training on unlabelled (margin >= 1, w 0.3)", weak="all", self_train=1.0),
]


class Prepared:
    """Each text prepared once per preparation (jieba is the slow part)."""

    def __init__(self):
        self._cache: dict[tuple[str, str], str] = {}

    def __call__(self, kind: str, texts: Sequence[str]) -> list[str]:
        out = []
        for t in texts:
            key = (kind, t)
            if key not in self._cache:
                if kind == "char-v1":
                    self._cache[key] = raw_adapt.classifier_text(t)
                else:
                    tokens = raw_adapt.classifier_tokens(t)
                    self._cache[key] = raw_adapt.char_view(tokens) if kind == "char" else tokens
            out.append(self._cache[key])
        return out


def _pipeline(option: Option):
    return build_pipeline(c=option.c) if option.features == "char+word" else build_char_pipeline(c=option.c)


def _fit(option, x, y, w):
    return _pipeline(option).fit(x, y, svm__sample_weight=np.asarray(w, dtype=np.float64))


def _margin(scores: np.ndarray) -> np.ndarray:
    s = np.sort(scores, axis=1)
    return s[:, -1] - s[:, -2]


def fit_option(option: Option, base_x, base_y, weak_x=(), weak_y=(), unlabelled_x=()):
    """The option's fitted pipeline from prepared texts (base rows weigh 1)."""
    x, y, w = list(base_x), list(base_y), [1.0] * len(base_x)
    if option.weak != "none" and len(weak_x):
        sel = np.ones(len(weak_x), bool)
        if option.weak == "agree":
            base = _fit(option, base_x, base_y, [1.0] * len(base_x))
            sel = base.predict(list(weak_x)) == np.asarray(weak_y)
        wx = [t for t, s in zip(weak_x, sel) if s]
        wy = [l for l, s in zip(weak_y, sel) if s]
        if option.balanced:
            base_c, mine = Counter(base_y), Counter(wy)
            ww = [option.weak_weight * (base_c[l] / len(base_y)) / (mine[l] / len(wy)) for l in wy]
        else:
            ww = [option.weak_weight] * len(wy)
        x, y, w = x + wx, y + wy, w + ww
    model = _fit(option, x, y, w)
    if option.self_train is not None and len(unlabelled_x):
        scores = model.decision_function(list(unlabelled_x))
        sel = _margin(scores) >= option.self_train
        pseudo = model.classes_[scores.argmax(1)]
        model = _fit(option, x + [t for t, s in zip(unlabelled_x, sel) if s], y + pseudo[sel].tolist(),
                     w + [option.self_train_weight] * int(sel.sum()))
    return model


def predict_option(option: Option, model, x, titles_x=None) -> np.ndarray:
    scores = model.decision_function(list(x))
    if option.title and titles_x is not None:
        scores = scores + option.title * model.decision_function(list(titles_x))
    return model.classes_[scores.argmax(1)]


def titles(texts: Sequence[str]) -> list[str]:
    return [t.split("\n", 1)[0] for t in texts]


def similarity(a: Sequence[str], b: Sequence[str]):
    """Char 3-gram TF-IDF cosine between the raw texts of `a` (rows) and `b` (columns)."""
    ca, cb = [raw_adapt.classifier_text(t) for t in a], [raw_adapt.classifier_text(t) for t in b]
    vec = TfidfVectorizer(analyzer="char", ngram_range=(3, 3)).fit(ca + cb)
    return (vec.transform(ca) @ vec.transform(cb).T).tocsr()


@dataclass
class Data:
    train_x: list[str]
    train_y: list[str]
    weak_x: list[str]
    weak_y: list[str]
    unlabelled: list[str]


def validate(option: Option, data: Data, prep: Prepared, n_jobs: int = 2) -> dict:
    """V1, V2, V3 of the option (see the module docstring)."""
    kind = option.features
    tx, ty = prep(kind, data.train_x), np.array(data.train_y)
    wx, wy = prep(kind, data.weak_x), np.array(data.weak_y)
    ux = prep(kind, data.unlabelled)
    wtx = prep(kind, titles(data.weak_x))

    # Reposts of a test message are left out of the extra (reply-labelled, unlabelled) data in
    # every check, as they are for dev: a repost in training, with its label, is a leak.
    raw = data.weak_x + data.unlabelled
    nw = len(data.weak_x)
    to_train = similarity(raw, data.train_x)          # raw rows x training rows
    weak_to_raw = similarity(data.weak_x, raw)        # reply-labelled rows x raw rows

    def without(near: np.ndarray, weak_rows=None):
        """(weak x, weak y, unlabelled x) minus the raw rows flagged in `near`."""
        rows = range(nw) if weak_rows is None else weak_rows
        keep_w = [i for i in rows if not near[i]]
        return ([wx[i] for i in keep_w], wy[keep_w].tolist(),
                [ux[i] for i in range(len(ux)) if not near[nw + i]])

    def v1(a, b):
        near = (to_train[:, b] >= NEAR_DUPLICATE).toarray().any(axis=1)
        m = fit_option(option, [tx[i] for i in a], ty[a].tolist(), *without(near))
        return int((m.predict([tx[i] for i in b]) == ty[b]).sum())

    groups = [raw_adapt.classifier_text(t)[:40] for t in data.weak_x]

    def v2(a, b):
        near = (weak_to_raw[b] >= NEAR_DUPLICATE).toarray().any(axis=0)
        m = fit_option(option, tx, ty.tolist(), *without(near, a))
        return int((predict_option(option, m, [wx[i] for i in b], [wtx[i] for i in b]) == wy[b]).sum())

    # V3: raw messages repeating a training message.
    best = to_train.max(axis=1).toarray().ravel()
    match = np.where(best >= 0.7)[0]
    gold = ty[np.asarray(to_train[match].argmax(axis=1)).ravel()]
    to_raw = similarity([raw[i] for i in match], raw)
    rx = prep(kind, [raw[i] for i in match])
    rtx = prep(kind, titles([raw[i] for i in match]))

    def v3(fold):
        idx = np.where(np.arange(len(match)) % 5 == fold)[0]
        drop_t = set(np.where((to_train[match[idx]] >= 0.5).toarray().any(axis=0))[0])
        drop_r = set(np.where((to_raw[idx] >= 0.5).toarray().any(axis=0))[0])
        keep_t = [i for i in range(len(tx)) if i not in drop_t]
        keep_w = [i for i in range(nw) if i not in drop_r]
        keep_u = [i for i in range(len(ux)) if nw + i not in drop_r]
        m = fit_option(option, [tx[i] for i in keep_t], ty[keep_t].tolist(), [wx[i] for i in keep_w],
                       wy[keep_w].tolist(), [ux[i] for i in keep_u])
        return int((predict_option(option, m, [rx[i] for i in idx], [rtx[i] for i in idx]) == gold[idx]).sum())

    run = Parallel(n_jobs=n_jobs)
    r1 = run(delayed(v1)(a, b) for a, b in StratifiedKFold(5, shuffle=True, random_state=0).split(tx, ty))
    r2 = run(delayed(v2)(a, b) for a, b in GroupKFold(5).split(wx, wy, groups))
    r3 = run(delayed(v3)(f) for f in range(5))
    return {"v1_train_cv": round(sum(r1) / len(ty), 4), "v2_reply_labels": round(sum(r2) / len(wy), 4),
            "v3_raw_repeats": round(sum(r3) / len(match), 4), "v3_rows": int(len(match))}


def dev_predictions(option: Option, data: Data, prep: Prepared, dev_x: Sequence[str]) -> np.ndarray:
    """Train on everything but reposts of the dev messages (dev texts only; never labels)."""
    kind = option.features
    keep_w = _not_near(data.weak_x, dev_x)
    keep_u = _not_near(data.unlabelled, dev_x)
    m = fit_option(option, prep(kind, data.train_x), data.train_y,
                   prep(kind, [data.weak_x[i] for i in keep_w]), [data.weak_y[i] for i in keep_w],
                   prep(kind, [data.unlabelled[i] for i in keep_u]))
    return predict_option(option, m, prep(kind, dev_x), prep(kind, titles(dev_x)))


def _not_near(texts: Sequence[str], exclude: Sequence[str]) -> list[int]:
    if not texts:
        return []
    s = similarity(texts, exclude).max(axis=1).toarray().ravel()
    return [i for i in range(len(texts)) if s[i] < NEAR_DUPLICATE]


def choose(rows: list[dict], v1_tolerance: float = 0.003, tie: float = 0.005) -> str:
    """The selection rule of the module docstring, over rows holding V1-V3 and "option"."""
    best_v1 = max(r["v1_train_cv"] for r in rows)
    eligible = [r for r in rows if r["v1_train_cv"] >= best_v1 - v1_tolerance]
    top_v3 = max(r["v3_raw_repeats"] for r in eligible)
    near_top = [r for r in eligible if r["v3_raw_repeats"] >= top_v3 - tie]
    return max(near_top, key=lambda r: (r["v2_reply_labels"], r["v3_raw_repeats"]))["option"]
