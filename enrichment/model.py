"""The supervised category classifier: char 1-3-gram TF-IDF over `enrichment.text.model_text`
and a linear SVM, trained from labelled CSV rows (later: analysts' decisions).

Contract: `TextClassifier.train(texts, labels) -> TextClassifier`; `.predict(texts) ->
list[(label, confidence)]`; `.save(dir)` / `TextClassifier.load(dir)` (raises ModelError with a
clear message for a missing or foreign directory).

Raw text (issue 13, part 3): training text and posts both go through
`enrichment.raw_adapt.classifier_text` (de-segment, drop punctuation and the function characters
the training file's stop-word list removed), the same at train and predict time. Confidence is
a softmax over the SVM margins with a temperature fitted on 3-fold cross-validated margins of
the training rows (temperature scaling): a probability, not just a rank. `low_confidence` (a
threshold stored with the model) flags a prediction that should go to an analyst rather than
be routed silently: `predict_detailed` returns `Prediction(label, confidence, low_confidence)`.
Measured on the raw labelled dev set (`python -m benchmarks.classifier_raw --compare`, trained
on the tokenized file only): accuracy 0.908, macro-F1 0.911 (previous model_text features 0.908 /
0.910), ECE ~0.02, the top-80%-confidence share 0.97 accurate, predictions flagged below 0.6
(~8%) right only half the time. Not kept (measured, no better or worse): EM prior adjustment with
the unlabelled raw prior (0.888: the with_votes/with_replies messages are ~70% 城乡建设, unlike
routed traffic), self-training on them (0.896/0.888), class_weight=balanced (0.910, noise), title
weighting at predict time (0.915 at 0.5, 0.908 at 1.0: cannot be validated on the tokenized file,
which has no title boundary, so not adopted on dev evidence alone). An ensemble with a logistic
regression over multilingual-e5-small embeddings (weight 0.2, picked by CV on the training file)
reaches 0.918 / 0.921 on dev, but gains only 0.001 in that CV and would embed every message at
~6-8 texts/s per core: measured in the benchmark (--embeddings-cache), not wired in here.
Target 0.93 not reached.

Why this model (benchmarks/classifier_cv.py, 5-fold CV on the 2020 contest's 7,678 messages):
char 1-3-grams + LinearSVC 0.93, word uni+bigrams 0.92, char 2-4-grams 0.92, char 1-3-grams
with SGD (modified Huber) 0.92; char n-grams need
no segmenter, so segmented training text and raw posts look alike after de-spacing.

The model is a pickle (joblib): load only directories you trained yourself.
"""
from __future__ import annotations

import json
import math
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

import joblib
import numpy as np
import sklearn
from scipy.optimize import minimize_scalar
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.model_selection import StratifiedKFold, cross_val_predict
from sklearn.pipeline import Pipeline
from sklearn.svm import LinearSVC

from enrichment import raw_adapt
from enrichment.text import model_text

FORMAT = "civic-radar-text-classifier/2"
# Models saved before raw adaptation: model_text features, fixed temperature; still loadable.
_OLD_FORMATS = {"civic-radar-text-classifier/1"}
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


# C=3 (weak regularisation): 0.932 in CV against 0.930 at C=1 and 0.921 at C=0.3; the
# features are many and the classes separate on a few specific n-grams.
def build_pipeline(min_df: int = 2, c: float = 3.0) -> Pipeline:
    return Pipeline([
        ("tfidf", TfidfVectorizer(analyzer="char", ngram_range=(1, 3), sublinear_tf=True,
                                  min_df=min_df, dtype=np.float32)),
        ("svm", LinearSVC(C=c)),
    ])


class TextClassifier:
    def __init__(self, pipeline: Pipeline, meta: dict):
        self.pipeline = pipeline
        self.meta = meta
        self.temperature = float(meta.get("temperature", _TEMPERATURE))
        self.low_confidence = float(meta.get("low_confidence", LOW_CONFIDENCE))
        self._prepare = (raw_adapt.classifier_text if meta.get("preprocess") == raw_adapt.VERSION
                         else model_text)

    def prepare(self, text: str) -> str:
        """The text the model reads (the same function at train and predict time)."""
        return self._prepare(text)

    @property
    def labels(self) -> list[str]:
        return [str(x) for x in self.pipeline.classes_]

    @classmethod
    def train(cls, texts: Sequence[str], labels: Sequence[str], *, calibrate: bool = True,
              low_confidence: float = LOW_CONFIDENCE) -> "TextClassifier":
        if len(texts) != len(labels):
            raise ValueError(f"{len(texts)} texts but {len(labels)} labels")
        counts = Counter(labels)
        if len(counts) < 2:
            raise ValueError(f"need at least two labels to train, got {sorted(counts)}")
        prepared = [raw_adapt.classifier_text(t) for t in texts]
        y = list(labels)
        # min_df=2 drops one-off n-grams (names, typos) on real data; tiny sets need them all.
        min_df = 2 if len(texts) >= 200 else 1
        temperature, calibration = _TEMPERATURE, "fixed (too few rows per label to cross-validate)"
        # Temperature scaling on held-out margins: 3-fold CV over the distinct training texts
        # (a message posted twice in both folds would look perfectly predictable).
        distinct = dict(zip(prepared, y))
        if calibrate and len(set(distinct.values())) == len(counts) \
                and min(Counter(distinct.values()).values()) >= 3:
            cv_texts, cv_labels = list(distinct), list(distinct.values())
            folds = StratifiedKFold(3, shuffle=True, random_state=0)
            held_out = cross_val_predict(build_pipeline(min_df=min_df), cv_texts, cv_labels,
                                         cv=folds, method="decision_function")
            classes = sorted(counts)
            if held_out.ndim == 1:
                held_out = np.column_stack([-held_out, held_out])
            temperature = fit_temperature(held_out, np.array([classes.index(v) for v in cv_labels]))
            calibration = "temperature scaling on 3-fold cross-validated margins"
        pipeline = build_pipeline(min_df=min_df)
        pipeline.fit(prepared, y)
        meta = {"format": FORMAT, "trained_at": datetime.now(timezone.utc).isoformat(),
                "rows": len(texts), "labels": dict(sorted(counts.items())),
                "features": "char 1-3-gram tf-idf over raw_adapt.classifier_text",
                "preprocess": raw_adapt.VERSION, "stop_chars": raw_adapt.STOP_CHARS,
                "model": "LinearSVC", "temperature": temperature, "calibration": calibration,
                "low_confidence": low_confidence, "sklearn": sklearn.__version__}
        return cls(pipeline, meta)

    def predict_proba(self, texts: Sequence[str]) -> np.ndarray:
        """Calibrated class probabilities, columns in `labels` order."""
        scores = self.pipeline.decision_function([self.prepare(t) for t in texts])
        if scores.ndim == 1:  # two classes: one margin for classes_[1]
            scores = np.column_stack([-scores, scores])
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
