"""Sentence embeddings for clustering, from a model on local disk only.

The default, multilingual-e5-small, understands Chinese; `make setup` builds it into the venv
(scripts/build_embedding_model.py). Settings (environment):

RADAR_EMBEDDING_MODEL  a folder path, or a sentence-transformers model name. The names
                       `multilingual-e5-small` / `intfloat/multilingual-e5-small` (the default)
                       mean the folder built at install; `multilingual-e5-small-int8` the same
                       model as int8 ONNX, also built at install
                       (scripts/build_embedding_variants.py), run by onnxruntime;
                       `multilingual-e5-small-static` a model2vec static model distilled from
                       it (also built at install; far faster, less exact); any other name
                       must already be in the local Hugging Face cache: nothing is ever
                       downloaded. A folder holding `model.onnx` is run as the int8 variant is, one whose
                       config.json says model2vec as the static one is.
RADAR_MODELS_DIR       where the build puts models (default <venv>/share/civic-radar/models)
"""
from __future__ import annotations

import hashlib
import json
import os
import sys
from collections.abc import Sequence
from functools import lru_cache
from pathlib import Path
from typing import Protocol, runtime_checkable

import numpy as np

# No model hub at run time: huggingface_hub reads this when first imported.
os.environ["HF_HUB_OFFLINE"] = "1"
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

DEFAULT_MODEL = "multilingual-e5-small"
BUILT_NAMES = {DEFAULT_MODEL, "intfloat/" + DEFAULT_MODEL}
INT8_MODEL = DEFAULT_MODEL + "-int8"
STATIC_MODEL = DEFAULT_MODEL + "-static"
BUILD_COMMAND = "make setup  (or: .venv/bin/python scripts/build_embedding_model.py)"
INT8_BUILD_COMMAND = "make setup  (or: .venv/bin/python scripts/build_embedding_variants.py)"
BUILD_MARKER = "civic_radar_build.json"


class EmbeddingModelMissing(FileNotFoundError):
    """The configured embedding model is not on this machine."""


@runtime_checkable
class Embedder(Protocol):
    """Texts to float32, L2-normalized vectors. `name` identifies the vectors (the cache key)."""

    name: str
    dim: int

    def encode(self, texts: Sequence[str]) -> np.ndarray: ...


def models_dir() -> Path:
    env = os.environ.get("RADAR_MODELS_DIR")
    return Path(env) if env else Path(sys.prefix) / "share" / "civic-radar" / "models"


def default_model_path(setting: str | None = None) -> Path | str:
    """Resolve RADAR_EMBEDDING_MODEL (or `setting`) to a folder, or to a cached model name."""
    value = setting if setting is not None else os.environ.get("RADAR_EMBEDDING_MODEL") or DEFAULT_MODEL
    if value in BUILT_NAMES:
        path = models_dir() / DEFAULT_MODEL
        if not (path / "modules.json").is_file():
            raise EmbeddingModelMissing(
                f"embedding model {value!r} is not built: {path} is missing. Build it with {BUILD_COMMAND}")
        return path
    if value == INT8_MODEL:
        path = models_dir() / INT8_MODEL
        if not (path / "model.onnx").is_file():
            raise EmbeddingModelMissing(
                f"embedding model {value!r} is not built: {path} is missing. Build it with {INT8_BUILD_COMMAND}")
        return path
    if value == STATIC_MODEL:
        path = models_dir() / STATIC_MODEL
        if not (path / "model.safetensors").is_file():
            raise EmbeddingModelMissing(
                f"embedding model {value!r} is not built: {path} is missing. Build it with "
                ".venv/bin/python scripts/build_embedding_variants.py --only static")
        return path
    path = Path(value).expanduser()
    if path.is_dir():
        return path
    if value.startswith((".", "/", "~")) or value.count("/") > 1:
        raise EmbeddingModelMissing(f"embedding model folder {path} does not exist")
    return value  # a sentence-transformers name ("org/model"), loaded from the local cache only


class SentenceTransformerEmbedder:
    """A sentence-transformers model on CPU, never downloaded.

    `prefix` is prepended to every text (e5 models expect "query: " for symmetric similarity);
    texts are cut to `max_chars` characters first (a post's head carries what it is about).
    """

    def __init__(self, model: str | Path, prefix: str = "query: ", batch_size: int = 64,
                 max_chars: int = 512):
        os.environ["HF_HUB_OFFLINE"] = "1"
        from sentence_transformers import SentenceTransformer
        from transformers.utils import logging as hf_logging

        hf_logging.disable_progress_bar()
        try:
            self.model = SentenceTransformer(str(model), device="cpu", local_files_only=True)
        except OSError as exc:
            raise EmbeddingModelMissing(
                f"embedding model {model!s} could not be loaded offline ({exc}). "
                f"The default is built with {BUILD_COMMAND}") from exc
        self.model.eval()
        self.prefix = prefix
        self.batch_size = batch_size
        self.max_chars = max_chars
        get_dim = getattr(self.model, "get_embedding_dimension", None) \
            or self.model.get_sentence_embedding_dimension
        dim = get_dim()
        if not dim:
            dim = int(self.model.encode(["x"], convert_to_numpy=True).shape[1])
        self.dim = int(dim)
        self.name = f"{_model_id(model)}|{prefix}|{max_chars}"

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        if len(texts) == 0:
            return np.zeros((0, self.dim), dtype=np.float32)
        inputs = [self.prefix + (t or "")[:self.max_chars] for t in texts]
        vecs = self.model.encode(inputs, batch_size=self.batch_size, convert_to_numpy=True,
                                 normalize_embeddings=True, show_progress_bar=False)
        return np.ascontiguousarray(vecs, dtype=np.float32)


def _model_id(model: str | Path) -> str:
    """A short, stable id of the model's weights: the folder name, plus the build checksum."""
    path = Path(model)
    if not path.is_dir():
        return str(model)
    try:
        marker = json.loads((path / BUILD_MARKER).read_text())
        return f"{path.name}@{(marker.get('artefact_sha256') or marker['weights_sha256'])[:12]}"
    except (OSError, ValueError, KeyError):
        return path.name


class OnnxEmbedder:
    """An ONNX export of a mean-pooled, normalized encoder (the int8 multilingual-e5-small that
    scripts/build_embedding_variants.py builds), run by onnxruntime on CPU.

    The folder holds `model.onnx` (inputs input_ids and attention_mask, output the pooled,
    normalized embedding), `tokenizer.json` and `config.json` (prefix, max_seq_length, dim,
    pad_token_id). Texts are cut to `max_chars` characters, prefixed, tokenized (truncated to
    max_seq_length tokens), sorted by length and run `batch_size` at a time, so little padding.
    """

    def __init__(self, folder: str | Path, name: str | None = None, batch_size: int = 32,
                 max_chars: int = 512, threads: int | None = None):
        folder = Path(folder)
        try:
            import onnxruntime as ort
            from tokenizers import Tokenizer
            config = json.loads((folder / "config.json").read_text())
            self.tokenizer = Tokenizer.from_file(str(folder / "tokenizer.json"))
            options = ort.SessionOptions()
            options.intra_op_num_threads = threads or min(2, os.cpu_count() or 1)
            options.inter_op_num_threads = 1
            self.session = ort.InferenceSession(str(folder / "model.onnx"), options,
                                                providers=["CPUExecutionProvider"])
        except Exception as exc:  # a missing file, or onnxruntime's own load errors (truncated file)
            raise EmbeddingModelMissing(f"ONNX embedding model {folder} could not be loaded ({exc}). "
                                        f"Build it with {INT8_BUILD_COMMAND}") from exc
        self.tokenizer.no_padding()
        self.tokenizer.enable_truncation(int(config["max_seq_length"]))
        self.prefix = config["prefix"]
        self.pad_id = int(config["pad_token_id"])
        self.dim = int(config["dim"])
        self.batch_size = batch_size
        self.max_chars = max_chars
        self.name = f"{_model_id(folder) if name is None else name}|{self.prefix}|{max_chars}"

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        if len(texts) == 0:
            return out
        ids = [e.ids for e in self.tokenizer.encode_batch(
            [self.prefix + (t or "")[:self.max_chars] for t in texts])]
        order = np.argsort([len(x) for x in ids], kind="stable")
        for start in range(0, len(order), self.batch_size):
            rows = order[start:start + self.batch_size]
            width = max(len(ids[r]) for r in rows)
            batch = np.full((len(rows), width), self.pad_id, dtype=np.int64)
            mask = np.zeros((len(rows), width), dtype=np.int64)
            for k, r in enumerate(rows):
                batch[k, :len(ids[r])] = ids[r]
                mask[k, :len(ids[r])] = 1
            out[rows] = self.session.run(None, {"input_ids": batch, "attention_mask": mask})[0]
        out /= np.maximum(np.linalg.norm(out, axis=1, keepdims=True), 1e-12)
        return out


class StaticEmbedder:
    """A model2vec static model (token vectors distilled from the encoder, averaged): thousands
    of texts a second on one core, at some cost in meaning (benchmarks/embedding_options.py).
    No prefix: a static model has no attention for "query: " to steer.

    The build (scripts/build_embedding_variants.py) leaves `centre.npy`, the mean vector of a
    civic corpus (averaged token vectors otherwise all point one way), `projection.npy`, a
    linear map fitted onto e5's sentence vectors, and `floor` in civic_radar_static.json: the
    cosine that counts as unrelated, which the clusterer uses in place of e5's."""

    def __init__(self, folder: str | Path, max_chars: int = 512, **_ignored):
        folder = Path(folder)
        try:
            from model2vec import StaticModel
            self.model = StaticModel.from_pretrained(str(folder))
            extra = json.loads((folder / "civic_radar_static.json").read_text())
            self.centre = np.load(folder / extra["centre"]).astype(np.float32)
            self.projection = np.load(folder / extra["projection"]).astype(np.float32)
            self.floor = float(extra["floor"])
        except Exception as exc:  # safetensors/tokenizers/json raise their own types on a broken folder
            raise EmbeddingModelMissing(f"static embedding model {folder} could not be loaded ({exc}). Build it "
                                        "with .venv/bin/python scripts/build_embedding_variants.py --only static") from exc
        self.dim = int(self.model.dim)
        self.max_chars = max_chars
        # The token vectors' checksum does not cover the centre and the map, rebuilt on their own.
        fitted = hashlib.sha256(self.centre.tobytes() + self.projection.tobytes()).hexdigest()[:8]
        self.name = f"{_model_id(folder)}|static-{fitted}|{max_chars}"

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        if len(texts) == 0:
            return np.zeros((0, self.dim), dtype=np.float32)
        vecs = np.asarray(self.model.encode([(t or "")[:self.max_chars] for t in texts]), dtype=np.float32)
        vecs /= np.maximum(np.linalg.norm(vecs, axis=1, keepdims=True), 1e-12)
        vecs -= self.centre
        vecs /= np.maximum(np.linalg.norm(vecs, axis=1, keepdims=True), 1e-12)
        vecs = vecs @ self.projection
        return vecs / np.maximum(np.linalg.norm(vecs, axis=1, keepdims=True), 1e-12)


def _is_model2vec(folder: Path) -> bool:
    try:
        return json.loads((folder / "config.json").read_text()).get("model_type") == "model2vec"
    except (OSError, ValueError, AttributeError):
        return False


def default_embedder(setting: str | None = None, **kwargs) -> SentenceTransformerEmbedder | OnnxEmbedder | StaticEmbedder:
    """The configured model; e5 models get their "query: " prefix, others none."""
    model = default_model_path(setting)
    if isinstance(model, Path) and (model / "model.onnx").is_file():
        kwargs.pop("prefix", None)  # the folder's config.json names it
        return OnnxEmbedder(model, **kwargs)
    if isinstance(model, Path) and _is_model2vec(model):
        return StaticEmbedder(model, **{k: v for k, v in kwargs.items() if k == "max_chars"})
    if "prefix" not in kwargs:
        kwargs["prefix"] = "query: " if "e5" in Path(str(model)).name.lower() else ""
    return SentenceTransformerEmbedder(model, **kwargs)


@lru_cache(maxsize=2)
def _load_embedder(setting: str | None) -> Embedder:
    return default_embedder(setting)


def configured_embedder() -> Embedder:
    """The model RADAR_EMBEDDING_MODEL names (default multilingual-e5-small), loaded once per process."""
    return _load_embedder(os.environ.get("RADAR_EMBEDDING_MODEL") or None)
