"""The embed stage (clustering.embed_stage): the window's posts encoded ahead of clustering,
shard by shard, so that the cluster stage finds every vector in the cache."""
from __future__ import annotations

import dataclasses
from datetime import timedelta

import pytest

from clustering.embed_stage import embed, shard_of
from clustering.stage import cluster
from core.models import Enrichment, Window
from tests.clustering.test_embeddings import CountingEmbedder
from tests.conftest import T0, make_post

TEXTS = ["南山区桃源村工地半夜施工噪音扰民", "桃源村旁边工地晚上十二点还在施工", "科技园路口的路灯坏了三天",
         "粤海街道深南大道辅道的大坑还没修", "西丽水库边上有人倒建筑垃圾", "蛇口港附近的公交站牌倒了",
         "桃源村工地又在半夜施工，噪音吵得孩子睡不着", "科技园路口那几盏路灯已经三天不亮了"]
WINDOW = Window(T0 - timedelta(days=1), T0 + timedelta(days=1))


def _add(store, texts, relevant=True):
    posts = [make_post(f"e{i}", text, at=T0 + timedelta(minutes=i)) for i, text in enumerate(texts)]
    store.posts.upsert(posts)
    store.posts.save_enrichments([(p, Enrichment(p.id, p.text, relevant, 0.9, "城乡建设", "南山区", None,
                                                 text_hash=f"h{i % 6}"))  # two pairs share a text
                                  for i, p in enumerate(posts)])
    return posts


def test_shards_encode_every_text_once_and_the_cluster_stage_then_encodes_nothing(store, config):
    _add(store, TEXTS)
    embedder = CountingEmbedder()
    counts = [embed(store, config, WINDOW, shard=i, shards=3, embedder=embedder) for i in range(3)]
    assert sum(c["texts"] for c in counts) == sum(c["encoded"] for c in counts) == 6
    assert sum(c["posts"] for c in counts) == len(TEXTS)
    assert len(embedder.seen) == 6  # one text per hash, across all shards
    assert {shard_of(f"h{i}", 3) for i in range(6)} == {c for c in range(3) if counts[c]["texts"]}
    again = embed(store, config, WINDOW, shard=1, shards=3, embedder=embedder)
    assert again["encoded"] == 0 and len(embedder.seen) == 6  # a re-run finds them cached

    done = cluster(store, config, WINDOW, embedder=embedder)
    assert len(embedder.seen) == 6 and done["posts_assigned"] > 0


def test_leads_are_the_same_with_or_without_the_embed_stage(tmp_path, config):
    from core.store import Store
    results = []
    for first in (True, False):
        store = Store.open(f"sqlite:///{tmp_path / f'{first}.db'}")
        _add(store, TEXTS)
        embedder = CountingEmbedder()
        if first:
            embed(store, config, WINDOW, embedder=embedder)
        cluster(store, config, WINDOW, embedder=embedder)
        _, leads = store.leads.list(limit=100)
        results.append(sorted(sorted(ids) for ids in store.leads.member_ids([lead.id for lead in leads]).values()))
        store.close()
    assert results[0] == results[1] and results[0]


def test_irrelevant_and_placed_posts_are_not_encoded(store, config):
    _add(store, TEXTS[:3], relevant=False)
    embedder = CountingEmbedder()
    assert embed(store, config, WINDOW, embedder=embedder) == {"posts": 0, "texts": 0, "encoded": 0}
    assert embedder.seen == []


def test_words_only_encodes_nothing(store, config):
    _add(store, TEXTS)
    embedder = CountingEmbedder()
    words = dataclasses.replace(config, radar=config.radar.model_copy(update={
        "clustering": config.radar.clustering.model_copy(update={"embedding_weight": 0.0})}))
    assert embed(store, words, WINDOW, embedder=embedder) == {"posts": 0, "texts": 0, "encoded": 0}
    assert embedder.seen == []


@pytest.mark.parametrize("shard, shards", [(0, 0), (3, 3), (-1, 2)])
def test_a_shard_outside_the_count_is_refused(store, config, shard, shards):
    with pytest.raises(ValueError, match="shard"):
        embed(store, config, WINDOW, shard=shard, shards=shards, embedder=CountingEmbedder())


@pytest.mark.parametrize("value", ["0", "65", "two"])
def test_a_broken_shard_count_in_the_environment_is_refused_by_name(monkeypatch, value):
    from pydantic import ValidationError

    from pipeline.tasks import embed_shards
    monkeypatch.setenv("RADAR_EMBED_SHARDS", value)
    with pytest.raises(ValidationError, match="embed_shards"):
        embed_shards()


def test_the_shard_count_from_the_environment_reaches_every_task(monkeypatch):
    from pipeline.tasks import embed_shards
    monkeypatch.setenv("RADAR_EMBED_SHARDS", "3")
    assert embed_shards() == [{"shard": i, "shards": 3} for i in range(3)]
