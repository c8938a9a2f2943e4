"""enrichment.geo against the repository's Shenzhen gazetteer."""
from __future__ import annotations

import pytest

from enrichment.geo import Locator
from enrichment.normalize import normalize


@pytest.fixture(scope="module")
def locator(config):
    return Locator(config.gazetteer)


def locate(locator, raw, geotag=None):
    return locator.locate(normalize(raw).text, geotag)


def test_longest_match_wins(locator):
    loc = locate(locator, "沙头角这边垃圾好多")
    assert (loc.district, loc.street) == ("盐田区", "沙头角街道")
    loc = locate(locator, "沙头这边垃圾好多")
    assert (loc.district, loc.street) == ("福田区", "沙头街道")


def test_bare_district_name_alone_is_the_district(locator):
    loc = locate(locator, "龙华这边电梯困人")
    assert (loc.district, loc.street, loc.precision) == ("龙华区", None, "district")


def test_bare_name_is_the_street_when_another_clue_agrees(locator):
    loc = locate(locator, "龙华区龙华那边停水了")
    assert (loc.district, loc.street, loc.precision) == ("龙华区", "龙华街道", "street")


def test_bare_name_in_a_full_district_name_is_not_a_street(locator):
    loc = locate(locator, "龙华区停水了")
    assert (loc.district, loc.street) == ("龙华区", None)


def test_street_implies_district(locator):
    loc = locate(locator, "民治街道有个大坑")
    assert (loc.district, loc.street, loc.precision) == ("龙华区", "民治街道", "street")


def test_place_implies_street_and_district(locator, config):
    place = next(p for p in config.gazetteer.places if p.street and p.kind == "estate")
    loc = locate(locator, f"{place.name}门口垃圾堆积")
    assert (loc.district, loc.street, loc.place, loc.precision) == (
        place.district, place.street, place.name, "place")
    assert (loc.lat, loc.lon) == tuple(place.centroid)


def test_explicit_street_beats_an_unconfirmed_ambiguous_name(locator):
    loc = locate(locator, "龙华 民治这边乱停车")
    assert (loc.district, loc.street) == ("龙华区", "民治街道")


def test_conflicting_districts_pick_most_evidence_with_lower_confidence(locator):
    clear = locate(locator, "南山区粤海街道路面塌陷")
    mixed = locate(locator, "南山区粤海街道路面塌陷，不是福田区")
    assert mixed.district == clear.district == "南山区"
    assert mixed.confidence < clear.confidence
    assert any(e.startswith("conflict:福田区") for e in mixed.evidence)


def test_geotag_is_weak_evidence_only(locator):
    loc = locate(locator, "路灯坏了好几天", geotag="发布于 广东")
    assert loc.district is None and loc.precision == "none"
    loc = locate(locator, "路灯坏了好几天", geotag="深圳·宝安区")
    assert loc.district is None and loc.precision == "city"


def test_geotag_breaks_a_tie(locator):
    loc = locate(locator, "福田区还是罗湖区？路灯坏了", geotag="深圳·罗湖区")
    assert loc.district == "罗湖区"


def test_common_words_containing_a_name_are_not_places(locator):
    assert locate(locator, "新安装的路灯又坏了").district is None
    assert locate(locator, "招商银行门口").district is None


def test_city_only(locator):
    loc = locate(locator, "深圳的路灯坏了")
    assert (loc.city, loc.district, loc.precision) == ("深圳市", None, "city")


def test_nowhere_and_garbage(locator):
    for raw in ["", "广州天河区有坑", "\x00\ufffd", "a" * 10_000]:
        loc = locate(locator, raw)
        assert loc.district is None


def test_a_place_named_twice_does_not_outvote_the_street():
    from core.config import load_config
    from core.settings import REPO_ROOT
    from enrichment.geo import Locator
    locator = Locator(load_config(REPO_ROOT / "config").gazetteer)
    loc = locator.locate("深南大道的坑还没修\n深南大道辅道粤海街道这段路面一个大坑")
    assert (loc.district, loc.street) == ("南山区", "粤海街道")
