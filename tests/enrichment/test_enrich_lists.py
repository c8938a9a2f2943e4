"""The three lists (catalogue, duties, implementation): validation, routing, urgency, and the
full enrichment of a post."""
from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import yaml

from core.config import ConfigError, load_config
from enrichment.enricher import Enricher
from enrichment.routing import Router
from enrichment.urgency import UrgencyJudge
from enrichment.normalize import normalize
from tests.conftest import REPO, make_post


@pytest.fixture
def config_dir(tmp_path) -> Path:
    shutil.copytree(REPO / "config", tmp_path / "config")
    return tmp_path / "config"


def _edit(path: Path, change) -> None:
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    change(data)
    path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")


@pytest.fixture(scope="module")
def enricher(config):
    return Enricher(config)


@pytest.fixture(scope="module")
def router(config):
    return Router(config)


def test_lists_are_complete(config):
    items = [i.id for c in config.catalogue.categories for i in c.items]
    assert len(items) >= 200 and len(set(items)) == len(items)
    assert set(config.implementation.items) == set(items)
    assert all(i.description and i.keywords and i.examples for c in config.categories for i in c.items)
    # Every district has every district unit: routing never lands on a missing name.
    assert len(config.duties.district_units) >= 15 and len(config.gazetteer.districts) == 11


@pytest.mark.parametrize("change, where, message", [
    (lambda d: d["rules"][0].update(item="XX999"), "duties.yaml: rules[0].item", "unknown catalogue item"),
    (lambda d: d["rules"][0].update(unit="district.nope"), "duties.yaml: rules[0].unit", "unknown unit"),
    (lambda d: d["rules"][0].update(district="火星区"), "duties.yaml: rules[0].district", "unknown district"),
    (lambda d: d["rules"].append({"item": "JT001", "district": "福田区", "street": "粤海街道",
                                  "unit": "street.office"}),
     "duties.yaml: rules[", "street '粤海街道' is not in 福田区"),
    (lambda d: d["category_defaults"].pop("水务"), "duties.yaml: category_defaults", "'水务' has no default"),
])
def test_duty_cross_references(config_dir, change, where, message):
    _edit(config_dir / "duties.yaml", change)
    with pytest.raises(ConfigError) as exc:
        load_config(config_dir)
    assert where in str(exc.value) and message in str(exc.value)


def test_implementation_must_cover_the_catalogue(config_dir):
    _edit(config_dir / "implementation.yaml", lambda d: (d["items"].pop("JT001"),
                                                         d["items"].update(ZZ001=d["items"]["JT002"])))
    with pytest.raises(ConfigError) as exc:
        load_config(config_dir)
    text = str(exc.value)
    assert "implementation.yaml: items.ZZ001: unknown catalogue item" in text
    assert "catalogue item 'JT001' has no entry" in text


def test_urgent_item_must_dispatch_within_30_minutes(config_dir):
    _edit(config_dir / "implementation.yaml", lambda d: d["items"]["JT003"].update(dispatch_minutes=120))
    with pytest.raises(ConfigError, match=r"items.JT003: urgent item dispatched in 120 min"):
        load_config(config_dir)


def test_duplicate_item_id_is_refused(config_dir):
    def dup(d):
        d["categories"][0]["items"].append(dict(d["categories"][0]["items"][0]))
    _edit(config_dir / "catalogue.yaml", dup)
    with pytest.raises(ConfigError, match="JT001' is defined twice"):
        load_config(config_dir)


def test_routing_most_specific_rule_wins(router):
    # 占道经营 (CG007): street office in 福田区 (district rule), district 城管 elsewhere (default).
    r = router.route("CG007", "城市管理", "福田区", "园岭街道")
    assert r.unit == "福田区园岭街道办事处" and "district=福田区" in r.rule
    r = router.route("CG007", "城市管理", "南山区", "粤海街道")
    assert r.unit == "南山区城市管理和综合执法局" and r.rule == "duties.category_defaults.城市管理"
    # A street rule beats the item rule: 路灯 in 粤海街道 goes to the district bureau.
    r = router.route("CG006", "城市管理", "南山区", "粤海街道")
    assert "street=粤海街道" in r.rule


def test_routing_without_a_place_falls_back_to_the_city(router):
    r = router.route("JT001", "交通运输", None, None)
    assert r.unit == "深圳市交通运输局" and r.unit_ref == "city.jtj"
    r = router.route("CG007", "城市管理", "福田区", None)  # street office, street unknown
    assert r.unit == "福田区人民政府"


def test_routing_overrides_and_outside(router):
    assert router.route("ZJ006", "住房建设", "大鹏新区", None).unit == "大鹏新区城市建设局"
    assert router.route("JT001", "交通运输", None, None, outside=True).unit is None


def test_deadlines_follow_the_implementation_list(router, config):
    r = router.route("JT003", "交通运输", "福田区", None)
    assert (r.process, r.dispatch_minutes) == ("urgent", 30)
    assert r.closing_standard
    general = router.route("JT001", "交通运输", "福田区", None)
    assert general.dispatch_minutes == 120
    # A general item made urgent by the text is dispatched in 30 minutes.
    assert router.route("JT001", "交通运输", "福田区", None, urgent=True).dispatch_minutes == 30


@pytest.mark.parametrize("raw, urgent, reason", [
    ("楼下起火了，浓烟滚滚", True, "urgent:safety(起火"),
    ("电梯困人半小时", True, "urgent:item(ZJ002)"),
    ("小区停电一整天了", True, "urgent:living(停电)"),
    ("路灯不亮", False, None),
    ("楼下噪音扰民", False, None),
])
def test_urgency_with_reasons(enricher, raw, urgent, reason):
    a = enricher.analyse(raw)
    assert a.urgency.urgent is urgent, a.urgency
    if reason:
        assert any(r.startswith(reason) for r in a.urgency.reasons), a.urgency.reasons


def test_news_about_a_hazard_is_not_urgent(config):
    judge = UrgencyJudge(config.implementation)
    assert not judge.judge(normalize("燃气泄漏应急演练").text, None, relevant=False).urgent


def test_outside_the_city_is_recognised_and_not_routed(enricher):
    a = enricher.analyse("东莞塘厦这边的马路有个大坑，好几天没人管")
    assert a.location.precision == "outside" and a.location.city == "东莞市"
    assert a.location.district is None and a.route.unit is None


def test_community_and_evidence_spans(enricher):
    a = enricher.analyse("罗湖区黄贝岭村的垃圾堆积好几天没人清运")
    loc = a.location
    assert (loc.district, loc.street, loc.community) == ("罗湖区", "黄贝街道", "黄贝岭")
    text = a.normalized.text
    assert [text[s:e] for s, e in loc.spans] == ["罗湖区", "黄贝岭村"]
    assert loc.lat and loc.lon and loc.confidence > 0.9


def test_enrichment_carries_item_unit_and_deadlines(enricher):
    e = enricher.enrich(make_post("1", "福田区园岭街道百花二路的井盖丢失了，晚上很危险，希望有关部门尽快处理"))
    assert (e.category, e.item, e.district, e.street) == ("交通运输", "JT003", "福田区", "园岭街道")
    assert e.urgent and e.urgency_reasons
    assert e.unit == "深圳市交通运输局福田管理局" and e.duty_rule == "duties.category_defaults.交通运输"
    assert (e.dispatch_minutes, e.resolution_hours) == (30, 24)
    assert e.location_precision == "place" and e.city == "深圳市"


def test_enrichment_round_trips_through_the_store(sqlite_store, enricher):
    post = make_post("1", "罗湖区黄贝岭村的垃圾堆积好几天没人清运")
    sqlite_store.posts.upsert([post])
    e = enricher.enrich(post)
    sqlite_store.posts.save_enrichments([(post, e)])
    assert sqlite_store.posts.enriched([post.id])[0].enrichment == e


@pytest.mark.parametrize("raw, urgent, reason", [
    ("没有闻到煤气味，只是楼道灯不亮", False, "urgency:negated(煤气味 by 没有)"),
    ("我家停电了，楼上也停电", True, "urgent:living(停电)"),
    ("昨晚停电，现在已经恢复了", False, "urgency:resolved(停电 已经恢复)"),
    ("未发现漏电，但电箱门坏了", False, "urgency:negated(漏电 by 未)"),
    ("不是没有煤气味，是很浓的煤气味", True, "urgent:safety(煤气味)"),
    ("有燃气味！大家注意，没有人受伤", True, "urgent:safety(燃气味)"),
    # an urgent item stays urgent however calmly it is reported; the hedge is still a reason
    ("小区停水两天了，不太急但希望尽快", True, "urgency:hedged(不太急)"),
])
def test_urgency_reads_negation_resolution_and_hedges(enricher, raw, urgent, reason):
    a = enricher.analyse(raw)
    assert a.urgency.urgent is urgent, a.urgency
    assert any(r.startswith(reason) for r in a.urgency.reasons), a.urgency.reasons


def test_a_hedge_takes_urgency_from_text_signals_alone(config):
    judge = UrgencyJudge(config.implementation)
    plain = judge.judge(normalize("路口大树倒了").text, None, relevant=True)
    hedged = judge.judge(normalize("路口大树倒了，不过不着急，有空再处理").text, None, relevant=True)
    assert plain.urgent and not hedged.urgent
    assert "urgency:hedged(不着急,有空再)" in hedged.reasons
    item = judge.judge(normalize("井盖丢失了，不着急").text, "JT003", relevant=True)
    assert item.urgent and "urgent:item(JT003)" in item.reasons
