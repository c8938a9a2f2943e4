"""The supervised category classifier: char 1-3-gram and word 1-2-gram TF-IDF over the text as
the training file's own recipe would have segmented and filtered it
(`enrichment.raw_adapt.classifier_tokens`), a linear SVM, calibrated confidence.

Contract: `TextClassifier.train(texts, labels, *, extra=None) -> TextClassifier`, where `extra`
is an optional `Extra(texts, labels, weights)`: more examples with their own sample weights
(e.g. raw messages labelled by their official reply, `enrichment.reply_labels`); `.predict(texts)
-> list[(label, confidence)]`; `.predict_detailed(texts) -> list[Prediction(label, confidence,
low_confidence)]`; `.predict_proba(texts)` (calibrated, columns in `.labels` order);
`.is_low_confidence(c)`; `.save(dir)` / `TextClassifier.load(dir)` (raises ModelError with a
clear message for a missing or foreign directory). Models of the earlier formats still load and
predict with the preparation they were trained with (`meta["preprocess"]`).

Raw text (issue 13, part 3): training text and posts both go through the same preparation
(raw-adapt/2: normalize, jieba, drop the derived stop words; the model stores its stop-word
list). Confidence is a softmax over the SVM margins with a temperature fitted on 3-fold
cross-validated margins of the base training rows (temperature scaling): a probability, not
just a rank. `low_confidence` (a threshold stored with the model) flags a prediction that
should go to an analyst rather than be routed silently.

Why this model (benchmarks/classifier_raw.py --compare; options chosen on the training file's
5-fold CV, on held-out reply-labelled raw messages and on raw messages that repeat a training
message, never on the dev labels; the dev file is only the final measurement): word 1-2-grams
next to the char 1-3-grams (C=1) are better on all three checks than char n-grams alone (C=3);
the preparation replaying the training file's recipe beats de-segmentation with stop
characters; reply-labelled raw messages (`extra`, class-balanced, weight 0.2) help on raw text
at the cost of a little CV accuracy on the tokenized file. Not kept: title weighting,
self-training on unlabelled messages, IDF fitted on unlabelled raw text, higher weak weights,
multilingual-e5-small embeddings (too slow per post). Figures in the benchmark's output.

The model is a pickle (joblib): load only directories you trained yourself. The pickled
pipeline refers to `raw_adapt.char_view` and `raw_adapt.word_view` by name.
"""
from __future__ import annotations

import json
import math
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import NamedTuple

import joblib
import numpy as np
import sklearn
from scipy.optimize import minimize_scalar
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.model_selection import StratifiedKFold
from sklearn.pipeline import FeatureUnion, Pipeline
from sklearn.svm import LinearSVC

from enrichment import raw_adapt
from enrichment.text import model_text

FORMAT = "civic-radar-text-classifier/3"
# /1: model_text features, fixed temperature; /2: raw-adapt/1 char n-grams. Still loadable: a
# model always predicts with the preparation named in its meta.
_OLD_FORMATS = {"civic-radar-text-classifier/1", "civic-radar-text-classifier/2"}
MODEL_FILE = "model.joblib"
META_FILE = "meta.json"
# Old models and tiny training sets (no cross-validation possible): margins of a linear SVM sit
# in about [-1.5, 1.5]; this temperature spreads them into confidences.
_TEMPERATURE = 4.0
# Below this calibrated confidence a prediction is flagged for an analyst (see
# benchmarks/classifier_raw.py: on raw dev messages the top-80%-confidence share is far more
# accurate than the rest).
LOW_CONFIDENCE = 0.6


@dataclass(frozen=True)
class Prediction:
    label: str
    confidence: float
    low_confidence: bool


class Extra(NamedTuple):
    """Training examples beyond the base rows, each with its own sample weight (the base rows
    weigh 1). Used in every calibration fold's training, never as calibration targets: their
    labels are weaker than the base rows'."""
    texts: Sequence[str]
    labels: Sequence[str]
    weights: Sequence[float]


def _softmax(scores: np.ndarray, temperature: float) -> np.ndarray:
    z = scores * temperature
    z = np.exp(z - z.max(axis=1, keepdims=True))
    return z / z.sum(axis=1, keepdims=True)


def fit_temperature(scores: np.ndarray, y_index: np.ndarray) -> float:
    """The softmax temperature (multiplier of the margins) minimizing held-out log-loss."""
    def nll(log_t: float) -> float:
        p = _softmax(scores, math.exp(log_t))
        return float(-np.mean(np.log(p[np.arange(len(y_index)), y_index] + 1e-12)))
    res = minimize_scalar(nll, bounds=(math.log(0.5), math.log(20.0)), method="bounded")
    return round(math.exp(float(res.x)), 4)


class ModelError(Exception):
    """A model directory is missing, incomplete or not ours."""


# C=1: with both views the features are twice as many; 5-fold CV on the training file 0.932
# (C=1) vs 0.934 (C=3), but C=1 is better on held-out reply-labelled raw messages (0.743 vs
# 0.740) and on raw repeats of training messages (0.873 vs 0.869), and trains twice as fast.
def build_pipeline(min_df: int = 2, c: float = 1.0) -> Pipeline:
    """The raw-adapt/2 model: input is `raw_adapt.classifier_tokens` output."""
    features = FeatureUnion([
        ("chars", TfidfVectorizer(analyzer="char", preprocessor=raw_adapt.char_view, ngram_range=(1, 3),
                                  sublinear_tf=True, min_df=min_df, dtype=np.float32)),
        ("words", TfidfVectorizer(tokenizer=raw_adapt.word_view, token_pattern=None, lowercase=False,
                                  ngram_range=(1, 2), sublinear_tf=True, min_df=min_df, dtype=np.float32)),
    ])
    return Pipeline([("features", features), ("svm", LinearSVC(C=c, random_state=0))])


# The previous (raw-adapt/1) model, for comparison: char 1-3-grams of `classifier_text`, C=3.
def build_char_pipeline(min_df: int = 2, c: float = 3.0) -> Pipeline:
    return Pipeline([
        ("tfidf", TfidfVectorizer(analyzer="char", ngram_range=(1, 3), sublinear_tf=True,
                                  min_df=min_df, dtype=np.float32)),
        ("svm", LinearSVC(C=c, random_state=0)),
    ])


def _scores(pipeline: Pipeline, prepared: Sequence[str]) -> np.ndarray:
    scores = pipeline.decision_function(prepared)
    if scores.ndim == 1:  # two classes: one margin for classes_[1]
        scores = np.column_stack([-scores, scores])
    return scores


def _fit(pipeline: Pipeline, texts: list[str], labels: list[str], weights: list[float]) -> Pipeline:
    return pipeline.fit(texts, labels, svm__sample_weight=np.asarray(weights, dtype=np.float64))


def _held_out_scores(texts: list[str], labels: list[str], extra: tuple[list, list, list],
                     min_df: int) -> np.ndarray:
    """3-fold cross-validated margins of `texts` (the extra rows join every training fold)."""
    out = None
    folds = StratifiedKFold(3, shuffle=True, random_state=0)
    y = np.array(labels)
    for train, test in folds.split(texts, y):
        model = _fit(build_pipeline(min_df=min_df), [texts[i] for i in train] + extra[0],
                     [labels[i] for i in train] + extra[1], [1.0] * len(train) + extra[2])
        part = _scores(model, [texts[i] for i in test])
        if out is None:
            out = np.zeros((len(texts), part.shape[1]))
        out[test] = part
    return out


class _Scorer:
    """SVM margins of the fitted raw-adapt/2 pipeline without sklearn's per-call overhead
    (~2.5 ms per call through Pipeline + FeatureUnion, which is what the enrich stage pays per
    post): each view's n-grams are looked up in its vocabulary, weighted (sublinear tf x idf,
    l2 per view, as TfidfVectorizer does) and dotted with the SVM's columns. Same margins as
    `pipeline.decision_function` up to float rounding (tested)."""

    def __init__(self, pipeline: Pipeline):
        svm = pipeline.named_steps["svm"]
        coef = svm.coef_.astype(np.float64)
        self.intercept = svm.intercept_.astype(np.float64)
        self.views = []
        offset = 0
        for _, vec in pipeline.named_steps["features"].transformer_list:
            n = len(vec.vocabulary_)
            self.views.append((vec.build_analyzer(), vec.vocabulary_, vec.idf_.astype(np.float64),
                               np.ascontiguousarray(coef[:, offset:offset + n])))
            offset += n

    def scores(self, prepared: str) -> np.ndarray:
        out = self.intercept.copy()
        for analyze, vocabulary, idf, coef in self.views:
            hits = [(vocabulary[g], n) for g, n in Counter(analyze(prepared)).items() if g in vocabulary]
            if not hits:
                continue
            idx = np.fromiter((i for i, _ in hits), dtype=np.int64, count=len(hits))
            tf = 1.0 + np.log(np.fromiter((n for _, n in hits), dtype=np.float64, count=len(hits)))
            values = tf * idf[idx]
            values /= np.sqrt(values @ values)
            out += coef[:, idx] @ values
        return out


class TextClassifier:
    def __init__(self, pipeline: Pipeline, meta: dict):
        self.pipeline = pipeline
        self.meta = meta
        self._scorer = _Scorer(pipeline) if meta.get("preprocess") == raw_adapt.VERSION else None
        self.temperature = float(meta.get("temperature", _TEMPERATURE))
        self.low_confidence = float(meta.get("low_confidence", LOW_CONFIDENCE))
        preprocess = meta.get("preprocess")
        if preprocess == raw_adapt.VERSION:
            stop = frozenset(meta.get("stop_words") or raw_adapt.stop_words())
            self._prepare = lambda text: raw_adapt.classifier_tokens(text, stop)
        elif preprocess == raw_adapt.VERSION_1:
            self._prepare = raw_adapt.classifier_text
        else:
            self._prepare = model_text

    def prepare(self, text: str) -> str:
        """The text the model reads (the same function at train and predict time)."""
        return self._prepare(text)

    @property
    def labels(self) -> list[str]:
        return [str(x) for x in self.pipeline.classes_]

    @classmethod
    def train(cls, texts: Sequence[str], labels: Sequence[str], *, extra: Extra | None = None,
              calibrate: bool = True, low_confidence: float = LOW_CONFIDENCE) -> "TextClassifier":
        if len(texts) != len(labels):
            raise ValueError(f"{len(texts)} texts but {len(labels)} labels")
        extra_texts, extra_labels, extra_weights = (list(x) for x in (extra or ([], [], [])))
        if not (len(extra_texts) == len(extra_labels) == len(extra_weights)):
            raise ValueError(f"extra: {len(extra_texts)} texts, {len(extra_labels)} labels, "
                             f"{len(extra_weights)} weights")
        if any(not (w >= 0) for w in extra_weights):
            raise ValueError("extra: weights must be >= 0")
        counts = Counter(labels)
        all_counts = counts + Counter(extra_labels)
        if len(all_counts) < 2:
            raise ValueError(f"need at least two labels to train, got {sorted(all_counts)}")
        stop = raw_adapt.stop_words()
        prepared = [raw_adapt.classifier_tokens(t, stop) for t in texts]
        extra_prepared = [raw_adapt.classifier_tokens(t, stop) for t in extra_texts]
        y = list(labels)
        # min_df=2 drops one-off n-grams (names, typos) on real data; tiny sets need them all.
        min_df = 2 if len(texts) + len(extra_texts) >= 200 else 1
        temperature, calibration = _TEMPERATURE, "fixed (too few rows per label to cross-validate)"
        # Temperature scaling on held-out margins: 3-fold CV over the distinct base texts (a
        # message posted twice in both folds would look perfectly predictable).
        distinct = dict(zip(prepared, y))
        if calibrate and set(distinct.values()) == set(counts) \
                and min(Counter(distinct.values()).values()) >= 3:
            cv_texts, cv_labels = list(distinct), list(distinct.values())
            held_out = _held_out_scores(cv_texts, cv_labels,
                                        (extra_prepared, extra_labels, extra_weights), min_df)
            classes = sorted(all_counts)
            temperature = fit_temperature(held_out, np.array([classes.index(v) for v in cv_labels]))
            calibration = "temperature scaling on 3-fold cross-validated margins of the base rows"
        pipeline = _fit(build_pipeline(min_df=min_df), prepared + extra_prepared, y + extra_labels,
                        [1.0] * len(prepared) + extra_weights)
        meta = {"format": FORMAT, "trained_at": datetime.now(timezone.utc).isoformat(),
                "rows": len(texts), "labels": dict(sorted(counts.items())),
                "extra_rows": len(extra_texts), "extra_labels": dict(sorted(Counter(extra_labels).items())),
                "extra_weight_sum": round(float(sum(extra_weights)), 3),
                "features": "char 1-3-gram + word 1-2-gram tf-idf over raw_adapt.classifier_tokens",
                "preprocess": raw_adapt.VERSION, "stop_chars": raw_adapt.STOP_CHARS,
                "stop_words": sorted(stop), "model": "LinearSVC", "temperature": temperature,
                "calibration": calibration, "low_confidence": low_confidence,
                "sklearn": sklearn.__version__}
        return cls(pipeline, meta)

    def predict_proba(self, texts: Sequence[str]) -> np.ndarray:
        """Calibrated class probabilities, columns in `labels` order."""
        prepared = [self.prepare(t) for t in texts]
        if self._scorer is None:
            scores = _scores(self.pipeline, prepared)
        elif not prepared:
            scores = np.zeros((0, len(self.pipeline.classes_)))
        else:
            scores = np.vstack([self._scorer.scores(p) for p in prepared])
            if scores.shape[1] == 1:  # two classes: one margin for classes_[1]
                scores = np.column_stack([-scores[:, 0], scores[:, 0]])
        return _softmax(scores, self.temperature)

    def predict_detailed(self, texts: Sequence[str]) -> list[Prediction]:
        if not texts:
            return []
        classes = self.pipeline.classes_
        out = []
        for probs in self.predict_proba(texts):
            best = int(probs.argmax())
            conf = round(float(probs[best]), 4)
            if not math.isfinite(conf):
                conf = 0.0
            out.append(Prediction(str(classes[best]), conf, conf < self.low_confidence))
        return out

    def predict(self, texts: Sequence[str]) -> list[tuple[str, float]]:
        return [(p.label, p.confidence) for p in self.predict_detailed(texts)]

    def is_low_confidence(self, confidence: float) -> bool:
        return confidence < self.low_confidence

    def predict_one(self, text: str) -> tuple[str | None, float]:
        if not text or not text.strip():
            return None, 0.0
        label, confidence = self.predict([text])[0]
        return label, confidence if math.isfinite(confidence) else 0.0

    def save(self, directory: Path | str) -> Path:
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        joblib.dump(self.pipeline, directory / MODEL_FILE, compress=3)
        (directory / META_FILE).write_text(json.dumps(self.meta, ensure_ascii=False, indent=2) + "\n",
                                           encoding="utf-8")
        return directory

    @classmethod
    def load(cls, directory: Path | str) -> "TextClassifier":
        directory = Path(directory)
        meta_path, model_path = directory / META_FILE, directory / MODEL_FILE
        if not directory.is_dir():
            raise ModelError(f"{directory}: no such model directory")
        if not meta_path.exists() or not model_path.exists():
            raise ModelError(f"{directory}: not a trained model (needs {META_FILE} and {MODEL_FILE}; "
                             "train one with `radar train classifier`)")
        try:
            meta = json.loads(meta_path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise ModelError(f"{meta_path}: unreadable ({exc})") from None
        if meta.get("format") != FORMAT and meta.get("format") not in _OLD_FORMATS:
            raise ModelError(f"{meta_path}: format {meta.get('format')!r}, expected {FORMAT!r}")
        try:
            pipeline = joblib.load(model_path)
        except Exception as exc:  # noqa: BLE001 - any unpickling failure means "not loadable"
            raise ModelError(f"{model_path}: cannot load ({type(exc).__name__}: {exc})") from None
        return cls(pipeline, meta)
