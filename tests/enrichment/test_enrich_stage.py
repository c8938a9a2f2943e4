"""The enricher on posts and the enrich stage on a real SQLite store, incl. idempotence."""
from __future__ import annotations

from datetime import timedelta

import pytest

from core.config import load_config
from core.models import Window
from core.store import Store
from enrichment.enricher import Enricher
from enrichment.stage import enrich
from tests.conftest import REPO, T0, make_post


@pytest.fixture(scope="module")
def enricher(config):
    return Enricher(config)


def test_enrich_problem_post(enricher):
    post = make_post("1", "南山区粤海街道科技园路面塌陷了一个大坑，好几天没人管，希望有关部门尽快处理",
                     title="路面塌陷")
    e = enricher.enrich(post)
    assert e.post_id == "weibo:1"
    assert e.relevant and e.relevance_score >= 0.5
    assert (e.category, e.district, e.street) == ("交通运输", "南山区", "粤海街道")
    assert e.urgent
    assert e.language == "zh" and len(e.text_hash) == 40
    assert any(r.startswith("problem:") for r in e.reasons)
    assert any(r.startswith("category:") for r in e.reasons)
    assert any(r.startswith("geo:") for r in e.reasons)


def test_place_names_do_not_trigger_rules(enricher):
    # 坑梓 is a street (not a pothole), 八卦岭 a neighbourhood (not gossip).
    assert not enricher.enrich(make_post("2", "坑梓这边天气真好")).relevant
    e = enricher.enrich(make_post("3", "八卦岭的楼道里飞线充电，太危险了"))
    assert e.relevant and not any(r.startswith("noise:gossip") for r in e.reasons)


def test_noise_is_not_urgent(enricher):
    e = enricher.enrich(make_post("4", "记者从发布会获悉，消防演练模拟起火场景"))
    assert not e.relevant and not e.urgent


@pytest.mark.parametrize("raw", ["", "   ", "😀😀", "<br/><p></p>", "@某某", "\x00\x01"])
def test_empty_after_normalization(enricher, raw):
    e = enricher.enrich(make_post("5", raw))
    assert not e.relevant and e.reasons == ("empty",) and e.normalized_text == ""


@pytest.mark.parametrize("raw", ["<" * 5000, "\ud800" * 10, "坑" * 200_000,
                                 bytes(range(256)).decode("latin-1") * 100])
def test_never_raises(enricher, raw):
    enricher.enrich(make_post("6", raw))


def test_stage_enriches_once(tmp_path):
    store = Store.open(f"sqlite:///{tmp_path}/r.db")
    config = load_config(REPO / "config")
    posts = [
        make_post("a", "小区停水两天了，希望有关部门尽快解决", at=T0),
        make_post("b", "加微信领取优惠券，限时促销", at=T0 + timedelta(minutes=1)),
        make_post("c", "😀", at=T0 + timedelta(minutes=2)),
        make_post("d", "路灯不亮" * 2000, at=T0 + timedelta(minutes=3)),
        make_post("e", "outside the window", at=T0 + timedelta(days=30)),
    ]
    store.posts.upsert(posts)
    window = Window(T0 - timedelta(hours=1), T0 + timedelta(hours=1))
    try:
        counts = enrich(store, config, window)
        assert counts == {"posts": 4, "relevant": 2, "truncated": 1, "empty": 1}
        saved = {ep.id: ep.enrichment for ep in store.posts.enriched([p.id for p in posts])}
        assert set(saved) == {"weibo:a", "weibo:b", "weibo:c", "weibo:d"}
        assert saved["weibo:a"].relevant and saved["weibo:a"].category == "水务"
        assert not saved["weibo:b"].relevant

        assert enrich(store, config, window)["posts"] == 0  # idempotent

        store.posts.upsert([make_post("b", "楼下噪音扰民到凌晨，投诉没人管", at=T0 + timedelta(minutes=1))])
        assert enrich(store, config, window) == {"posts": 1, "relevant": 1, "truncated": 0, "empty": 0}
    finally:
        store.close()


def test_repost_inherits_from_its_original(enricher):
    original = enricher.enrich(make_post("o", "民治街道白石龙路灯不亮好几天了，希望有关部门尽快处理"))
    repost = make_post("r", "转发微博", reposted_id="weibo:o")
    alone = enricher.enrich(repost)
    e = enricher.enrich(repost, original)
    assert not alone.relevant
    assert e.relevant and (e.category, e.district, e.street) == (
        original.category, original.district, original.street)
    assert "repost_of:weibo:o" in e.reasons
    ad = make_post("s", "加微信领取优惠券", reposted_id="weibo:o")
    assert not enricher.enrich(ad, original).relevant


def test_stage_reposts_in_one_batch(tmp_path, config):
    store = Store.open(f"sqlite:///{tmp_path}/r.db")
    try:
        # The repost's id sorts before its original's: the stage must still see the original.
        store.posts.upsert([make_post("b", "南山区粤海街道小区停水两天了，求解决"),
                            make_post("a", "扩散", reposted_id="weibo:b")])
        enrich(store, config, Window.everything())
        e = store.posts.enriched(["weibo:a"])[0].enrichment
        assert e.relevant and e.district == "南山区"
    finally:
        store.close()


def test_adjacent_and_confirmed_bare_names(enricher):
    e = enricher.enrich(make_post("g", "龙岗龙岗这边的电梯又坏了"))
    assert (e.district, e.street) == ("龙岗区", "龙岗街道")
    e = enricher.enrich(make_post("h", "南山海岸城后面路灯不亮"))
    assert (e.district, e.street) == ("南山区", "粤海街道")
