"""Candidate leads by kNN over the search index (clustering.candidates: knn) place posts as the
time-window scan does, and really come from the index: a lead the index does not hold is not
a candidate."""
from __future__ import annotations

import dataclasses
import hashlib
from datetime import timedelta

import numpy as np

from clustering.stage import cluster
from core.models import Enrichment, Window
from core.search.embedded import EmbeddedSearch
from pipeline.runner import lead_centroids
from tests.conftest import T0, make_post

POTHOLE = ["南山区粤海街道深南大道辅道有个大坑，电动车摔了好几次，希望尽快修",
           "深南大道辅道粤海街道这段路面一个大坑，昨晚又有电动车摔倒",
           "粤海街道深南大道辅道的大坑还没修，电动车经过很危险"]
NOISE = ["南山区桃源村工地半夜施工噪音扰民，吵得睡不着",
         "桃源村旁边工地晚上十二点还在施工，噪音太大了",
         "桃源村工地又在半夜施工，噪音吵得孩子睡不着"]


class CharEmbedder:
    """Deterministic stand-in for the model: a fixed random projection of char bigrams."""

    name = "char-bigram-test"
    dim = 32

    def __init__(self):
        self.table = np.random.default_rng(3).standard_normal((4096, self.dim)).astype(np.float32)

    def encode(self, texts):
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        for i, t in enumerate(texts):
            for a, b in zip(t, t[1:]):
                out[i] += self.table[int(hashlib.md5((a + b).encode()).hexdigest()[:6], 16) % 4096]
        return out / np.maximum(np.linalg.norm(out, axis=1, keepdims=True), 1e-9)


def add(store, native_id, text, day):
    post = make_post(native_id, text, at=T0 + timedelta(days=day))
    store.posts.upsert([post])
    store.posts.save_enrichments([(post, Enrichment(post.id, text, True, 0.9, "交通运输", "南山区", None,
                                                    text_hash=hashlib.sha1(text.encode()).hexdigest()))])
    return post.id


def with_candidates(config, mode):
    clustering = config.radar.clustering.model_copy(update={"candidates": mode, "embedding_floor": 0.0})
    return dataclasses.replace(config, radar=config.radar.model_copy(update={"clustering": clustering}))


def run(store, config, mode, search, index: bool):
    embedder = CharEmbedder()
    cfg = with_candidates(config, mode)
    first = [add(store, f"p{i}", t, 0) for i, t in enumerate(POTHOLE[:2])] + \
            [add(store, f"n{i}", t, 0) for i, t in enumerate(NOISE[:2])]
    cluster(store, cfg, Window(T0 - timedelta(hours=1), T0 + timedelta(hours=1)), embedder=embedder, search=search)
    if index:
        leads = store.leads.list()[1]
        search.index_leads(leads, centroids=lead_centroids(store, leads, search.dims))
        search.refresh()
    later = [add(store, "p2", POTHOLE[2], 2), add(store, "n2", NOISE[2], 2)]
    cluster(store, cfg, Window(T0 + timedelta(days=2) - timedelta(hours=1), T0 + timedelta(days=2, hours=1)),
            embedder=embedder, search=search)
    return store.leads.of_posts(first + later)


def test_knn_candidates_place_posts_as_the_scan_does(tmp_path, config):
    from core.store import Store
    scan_store, knn_store = (Store.open(f"sqlite:///{tmp_path}/{n}.db") for n in ("scan", "knn"))
    by_scan = run(scan_store, config, "scan", None, index=False)
    by_knn = run(knn_store, config, "knn", EmbeddedSearch(knn_store, dims=CharEmbedder.dim), index=True)
    assert by_scan == by_knn
    assert by_knn["weibo:p2"] == by_knn["weibo:p0"] != by_knn["weibo:n0"] == by_knn["weibo:n2"]


def test_a_lead_the_index_does_not_hold_is_no_candidate(tmp_path, config):
    from core.store import Store
    store = Store.open(f"sqlite:///{tmp_path}/knn.db")
    placed = run(store, config, "knn", EmbeddedSearch(store, dims=CharEmbedder.dim), index=False)
    # the day-2 posts found no candidate lead: they are not in the day-0 leads
    assert placed.get("weibo:p2") != placed["weibo:p0"] and placed.get("weibo:n2") != placed["weibo:n0"]
