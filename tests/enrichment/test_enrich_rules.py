"""Relevance rules and category keywords against the repository's YAML."""
from __future__ import annotations

import pytest

from core.config import RelevanceConfig
from enrichment.category import Classifier
from enrichment.normalize import normalize
from enrichment.relevance import RelevanceScorer


@pytest.fixture(scope="module")
def scorer(config):
    return RelevanceScorer(config.relevance)


@pytest.fixture(scope="module")
def classifier(config):
    return Classifier(config.catalogue)


def text(raw: str) -> str:
    return normalize(raw).text


@pytest.mark.parametrize("raw", [
    "小区门口的路面有个大坑，好几天了都没人管，希望有关部门尽快处理",
    "楼下烧烤店每天晚上噪音扰民到凌晨两点，投诉多次没用",
    "电梯故障困人半小时，物业不作为",
    "健身房老板跑路了，预付卡里还有三千多余额退费无门",
    "我们小区停水两天了，什么时候恢复？",
    "消防通道被乱停的车堵死了，太危险了",
    "路灯不亮一个多月了，晚上走路很危险",
    "這裡垃圾堆積如山，臭氣熏天",
])
def test_clear_problems_are_relevant(scorer, raw):
    r = scorer.score(text(raw))
    assert r.relevant, r
    assert any(reason.startswith("problem:") for reason in r.reasons)


@pytest.mark.parametrize("raw, kind", [
    ("新店开业典礼，全场优惠促销，加微信领取代金券", "ad"),
    ("某明星恋情曝光，八卦满天飞", "gossip"),
    ("兼职日结，刷单返利，在家就能做", "spam"),
    ("记者从发布会获悉，全市工作会议召开，据悉将部署新一轮改造", "news"),
    ("今天天气真好，去海边打卡，奶茶好好喝", "chat"),
    ("楼盘出租出售，价格优惠，欢迎咨询", "ad"),
])
def test_noise_is_not_relevant(scorer, raw, kind):
    r = scorer.score(text(raw))
    assert not r.relevant, r
    assert any(reason.startswith(f"noise:{kind}(") for reason in r.reasons)


def test_reasons_name_signal_and_term(scorer):
    r = scorer.score(text("路上有坑"))
    assert "problem:damage(坑)" in r.reasons


def test_longer_noise_term_shields_problem_term(scorer):
    assert not scorer.score(text("这家臭豆腐好吃")).relevant


def test_score_is_a_probability(scorer):
    for raw in ["", "坑" * 100, "加微信" * 100]:
        assert 0.0 <= scorer.score(text(raw)).score <= 1.0


def test_noise_weight_sign_does_not_matter():
    cfg = RelevanceConfig(threshold=0.5, base=0.0,
                          problem_signals={"p": {"weight": 1, "terms": ["坑"]}},
                          noise_signals={"n": {"weight": -2, "terms": ["广告"]}})
    assert not RelevanceScorer(cfg).score("广告 坑").relevant


@pytest.mark.parametrize("raw, category", [
    ("深南大道路面塌陷出现大坑", "交通运输"),
    ("路口红绿灯坏了好几天", "交通运输"),
    ("门口天天有车乱停，占道停车", "交通运输"),
    ("工地夜间施工噪音扰民", "生态环境"),
    ("工厂偷排废气，刺鼻异味", "生态环境"),
    ("垃圾堆积没人清运", "城市管理"),
    ("路灯不亮，晚上一片漆黑", "城市管理"),
    ("流动摊贩占道经营", "城市管理"),
    ("楼道里飞线充电，消防通道被堵", "应急消防"),
    ("闻到很浓的煤气味，怀疑燃气泄漏", "应急消防"),
    ("水管爆裂，马路上全是水", "水务"),
    ("小区停水两天了", "水务"),
    ("健身房跑路，预付卡余额退不了", "市场监管"),
    ("外卖吃坏肚子，食品安全谁来管", "市场监管"),
    ("电梯故障困人", "住房建设"),
    ("外墙墙皮脱落，小区物业不管", "住房建设"),
])
def test_category(classifier, raw, category):
    assert classifier.classify(text(raw)).category == category


@pytest.mark.parametrize("raw, item", [
    ("马路上井盖丢失，很危险", "JT003"),
    ("工地夜间施工噪音扰民", "ST001"),
    ("楼下烧烤店音响太吵", "ST002"),
    ("小区停水两天了", "SW001"),
])
def test_item_within_category(classifier, raw, item):
    guess = classifier.classify(text(raw))
    assert guess.item == item, guess
    assert f"item:{item}" in " ".join(guess.reasons)


def test_no_keyword_falls_back_to_item_descriptions(classifier):
    # No keyword of any item here; the descriptions of 道路坑洼破损 and 诈骗 say it.
    for raw, item in (("车行道沉降严重", "JT001"), ("冒充公检法打电话", "GA002")):
        guess = classifier.classify(text(raw))
        assert guess.item == item and guess.reasons[0].endswith("(profile)"), guess
        assert classifier.classify(text(raw), use_profiles=False).category is None


def test_no_keyword_no_category(classifier):
    guess = classifier.classify(text("今天心情不错"))
    assert guess.category is None and guess.confidence == 0.0


def test_category_names_include_the_fixed_list(config):
    # The simulator's truth and the work-order system use these seven names.
    names = [c.name for c in config.categories]
    assert len(names) == 18
    assert names[:7] == ["交通运输", "生态环境", "城市管理", "应急消防", "水务", "市场监管", "住房建设"]
    assert sum(len(c.items) for c in config.categories) >= 200


def test_found_holds_every_catalogue_keyword_the_deciding_categorys_first(classifier):
    guess = classifier.classify(normalize("小区旁边的搅拌站噪音扰民，粉尘很大，车位也被占了").text)
    assert guess.terms and guess.found[:len(guess.terms)] == guess.terms
    assert set(guess.terms) < set(guess.found)  # the other categories' keywords follow
    assert len(set(guess.found)) == len(guess.found)
    assert classifier.classify(normalize("今天天气不错").text, use_profiles=False).found == ()
