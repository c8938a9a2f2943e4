"""Named places by pattern and detail addresses (enrichment.spots)."""
from __future__ import annotations

import pytest

from core.models import Post
from enrichment.normalize import normalize
from enrichment.spots import NO_SPOT, find_spot, named_places, place_key


def spot(text, known=None):
    return find_spot(normalize(text).text, known)


@pytest.mark.parametrize("text, key", [
    ("A市A5区魅力之城小区旁边的搅拌站粉尘太大", "魅力之城"),
    ("投诉A市伊景园滨河苑捆绑车位销售", "伊景园滨河苑"),
    ("A7县星沙广泰家园起火，安全隐患非常大", "星沙广泰家园"),
    ("A市高新区中梁云麓传奇工地南边道路上长年都是泥土", "中梁云麓传奇工地"),
    ("A2区暮云街道暮云新村千亩良田成了渣土回填场", "暮云新村"),  # the street is not part of it
    ("A市经开区泉塘小塘路路灯太暗", "泉塘小塘路"),  # a road, when nothing finer is named
    ("A市A4区中山路48号阳光城檀悦工地夜间施工扰民", "阳光城"),  # the house number is not part of it
])
def test_estates_and_facilities_no_gazetteer_holds_are_named_by_pattern(text, key):
    assert spot(text).key == key


@pytest.mark.parametrize("text", [
    "我们小区的电梯坏了", "该小区物业不作为", "希望政府尽快处理", "城市管理部门不作为", "路灯不亮，道路坑洼",
    "农村集体经济组织成员", "家庭困难补助",
])
def test_generic_words_name_no_place(text):
    assert spot(text).key is None


def test_the_title_names_what_the_post_is_about():
    text = "A4区瑞都豪庭小区违建\n我是景致雅苑小区的业主，景致雅苑门口，景致雅苑业主……"
    assert spot(text).key == "瑞都豪庭"


def test_a_gazetteer_place_is_the_key_when_the_text_names_one():
    s = spot("景田花园3栋2单元门口漏水", known="景田")
    assert s.place == "景田" and s.key == "景田"


def test_a_place_s_own_name_holds_no_detail():
    # 香蜜湖一号 + 楼下 is not building 一号楼; a road's name still bounds a section
    assert spot("香蜜湖一号楼下夜宵摊每晚都很吵", known="香蜜湖一号").detail == ()
    assert spot("香蜜湖一号11栋楼下夜宵摊每晚都很吵", known="香蜜湖一号").detail == (("building", "11栋"),)


def test_place_key_drops_the_generic_suffix():
    assert place_key("魅力之城小区") == place_key("魅力之城") == "魅力之城"
    assert place_key("小区") == "小区"


@pytest.mark.parametrize("text, detail", [
    ("景田花园3栋2单元门口漏水", (("building", "3栋"), ("unit", "2单元"))),
    ("滨河苑小区A区12栋电梯坏了", (("building", "A区12栋"),)),
    ("滨河苑7号楼电梯坏了", (("building", "7号楼"),)),
    ("地铁车公庙站B2出口积水严重", (("exit", "B2出口"),)),
    ("公园东门的垃圾没人清", (("gate", "东门"),)),
    ("人民公园3号门的垃圾没人清", (("gate", "3号门"),)),
    ("城中村12巷污水横流", (("lane", "12巷"),)),
    ("莲湖路18号居民房屋被污水淹了", (("number", "18号"),)),
    ("小塘路从漓楚路到盼盼路段路灯太暗", (("section", "漓楚路-盼盼路"),)),
    ("盼盼路与漓楚路交叉口红绿灯坏了", (("section", "漓楚路-盼盼路"),)),  # either order: one section
])
def test_detail_addresses(text, detail):
    assert spot(text).detail == detail


@pytest.mark.parametrize("text", ["3月5号起停水", "地铁1号线太挤", "座位不够", "门诊排队太久"])
def test_dates_lines_and_words_are_not_details(text):
    assert spot(text).detail == ()


@pytest.mark.parametrize("text", ["", "！！！", "栋" * 5000, "<script>alert(1)</script>小区" * 200, None])
def test_hostile_or_empty_text_never_raises(text):
    assert isinstance(find_spot(text), type(NO_SPOT))


def test_enrichment_carries_the_spot(config):
    from datetime import datetime, timezone
    from enrichment.enricher import Enricher
    post = Post(platform="weibo", native_id="1", url="https://x/1", author_hash="a", author_name="n",
                title="伊景园滨河苑3栋电梯坏了", text="电梯停了三天没人修",
                published_at=datetime(2026, 1, 1, tzinfo=timezone.utc), crawled_at=datetime(2026, 1, 1, tzinfo=timezone.utc))
    e = Enricher(config).enrich(post)
    assert e.place_key == "伊景园滨河苑" and e.place_detail == (("building", "3栋"),)
    assert named_places(e.normalized_text)
