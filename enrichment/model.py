"""The supervised category classifier: char 1-3-gram TF-IDF over `enrichment.text.model_text`
and a linear SVM, trained from labelled CSV rows (later: analysts' decisions).

Contract: `TextClassifier.train(texts, labels) -> TextClassifier`; `.predict(texts) ->
list[(label, confidence)]`; `.save(dir)` / `TextClassifier.load(dir)` (raises ModelError with a
clear message for a missing or foreign directory).

Why this model (benchmarks/classifier_cv.py, 5-fold CV on the 2020 contest's 7,678 messages):
char 1-3-grams + LinearSVC 0.93, word uni+bigrams 0.92, char 2-4-grams 0.92, char 1-3-grams
with SGD (modified Huber) 0.92; char n-grams need
no segmenter, so segmented training text and raw posts look alike after de-spacing. Confidence
is a softmax over the SVM margins: it ranks, it is not a calibrated probability.

The model is a pickle (joblib): load only directories you trained yourself.
"""
from __future__ import annotations

import json
import math
from collections import Counter
from collections.abc import Sequence
from datetime import datetime, timezone
from pathlib import Path

import joblib
import numpy as np
import sklearn
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.pipeline import Pipeline
from sklearn.svm import LinearSVC

from enrichment.text import model_text

FORMAT = "civic-radar-text-classifier/1"
MODEL_FILE = "model.joblib"
META_FILE = "meta.json"
# Margins of a linear SVM sit in about [-1.5, 1.5]; this temperature spreads them into
# confidences that separate a clear winner (>0.8) from a coin toss (<0.5).
_TEMPERATURE = 4.0


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

    @property
    def labels(self) -> list[str]:
        return [str(x) for x in self.pipeline.classes_]

    @classmethod
    def train(cls, texts: Sequence[str], labels: Sequence[str]) -> "TextClassifier":
        if len(texts) != len(labels):
            raise ValueError(f"{len(texts)} texts but {len(labels)} labels")
        counts = Counter(labels)
        if len(counts) < 2:
            raise ValueError(f"need at least two labels to train, got {sorted(counts)}")
        # min_df=2 drops one-off n-grams (names, typos) on real data; tiny sets need them all.
        pipeline = build_pipeline(min_df=2 if len(texts) >= 200 else 1)
        pipeline.fit([model_text(t) for t in texts], list(labels))
        meta = {"format": FORMAT, "trained_at": datetime.now(timezone.utc).isoformat(),
                "rows": len(texts), "labels": dict(sorted(counts.items())),
                "features": "char 1-3-gram tf-idf over model_text", "model": "LinearSVC",
                "sklearn": sklearn.__version__}
        return cls(pipeline, meta)

    def predict(self, texts: Sequence[str]) -> list[tuple[str, float]]:
        if not texts:
            return []
        scores = self.pipeline.decision_function([model_text(t) for t in texts])
        classes = self.pipeline.classes_
        if scores.ndim == 1:  # two classes: one margin for classes_[1]
            scores = np.column_stack([-scores, scores])
        out = []
        for row in scores:
            z = row * _TEMPERATURE
            z = np.exp(z - z.max())
            probs = z / z.sum()
            best = int(probs.argmax())
            out.append((str(classes[best]), round(float(probs[best]), 4)))
        return out

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
        if meta.get("format") != FORMAT:
            raise ModelError(f"{meta_path}: format {meta.get('format')!r}, expected {FORMAT!r}")
        try:
            pipeline = joblib.load(model_path)
        except Exception as exc:  # noqa: BLE001 - any unpickling failure means "not loadable"
            raise ModelError(f"{model_path}: cannot load ({type(exc).__name__}: {exc})") from None
        return cls(pipeline, meta)
