"""The Shenzhen gazetteer (config/gazetteer/shenzhen.yaml): all districts and streets, places
that point at existing districts and streets."""
from __future__ import annotations

from pathlib import Path

import yaml

GAZETTEER = Path(__file__).resolve().parents[2] / "config" / "gazetteer" / "shenzhen.yaml"

DISTRICTS = {"福田区": 10, "罗湖区": 10, "南山区": 8, "盐田区": 4, "宝安区": 10, "龙岗区": 11,
             "龙华区": 6, "坪山区": 6, "光明区": 6, "大鹏新区": 3}
SHENSHAN = {"鹅埠镇", "小漠镇", "鮜门镇", "赤石镇"}


def _load() -> dict:
    return yaml.safe_load(GAZETTEER.read_text(encoding="utf-8"))


def _in_shenzhen(lat: float, lon: float) -> bool:
    return 22.4 <= lat <= 23.0 and 113.7 <= lon <= 115.3


def test_districts_and_street_counts():
    doc = _load()
    assert doc["city"] == "深圳市"
    by_name = {d["name"]: d for d in doc["districts"]}
    assert len(by_name) == 11 == len(doc["districts"])
    for name, count in DISTRICTS.items():
        assert len(by_name[name]["streets"]) == count, name
    assert sum(len(by_name[n]["streets"]) for n in DISTRICTS) == 74
    assert {s["name"] for s in by_name["深汕特别合作区"]["streets"]} == SHENSHAN


def test_streets_well_formed():
    names = []
    for d in _load()["districts"]:
        assert _in_shenzhen(*d["centroid"]), d["name"]
        for s in d["streets"]:
            names.append(s["name"])
            assert s["name"].endswith(("街道", "镇")), s["name"]
            assert s["aliases"] == [s["name"].removesuffix("街道").removesuffix("镇")]
            assert _in_shenzhen(*s["centroid"]), s["name"]
    assert len(names) == len(set(names)) == 78


def test_places_reference_existing_districts_and_streets():
    doc = _load()
    streets = {d["name"]: {s["name"] for s in d["streets"]} for d in doc["districts"]}
    places = doc["places"]
    assert len(places) >= 120
    assert len({p["name"] for p in places}) == len(places)
    kinds = {p["kind"] for p in places}
    assert kinds == {"road", "metro", "landmark", "estate", "community"}
    for p in places:
        assert p["district"] in streets, p["name"]
        if p.get("street"):
            assert p["street"] in streets[p["district"]], p["name"]
        for other in p.get("also_districts", []):
            assert other in streets and other != p["district"], p["name"]
        assert _in_shenzhen(*p["centroid"]), p["name"]
    named = {p["name"] for p in places}
    assert {"深南大道", "北环大道", "滨海大道", "宝安大道", "龙岗大道", "梅观路", "海岸城",
            "世界之窗", "东门步行街", "百花园", "桃源村", "碧海湾", "星河丹堤"} <= named


def test_core_schema_accepts_it():
    from core.config import Gazetteer

    Gazetteer.model_validate(_load())
