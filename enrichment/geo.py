"""Where in the city is the problem? Gazetteer matching (schema core.config.Gazetteer).

Contract: `Locator(gazetteer).locate(text, geotag) -> Location(city, district, street, place,
lat, lon, precision, confidence, evidence, community, spans)` where precision is place | street
| district | city | outside | none. Rules:
- leftmost-longest matching over every name and alias (沙头角 beats 沙头);
- a place implies its district and street, a street its district;
- a bare name that is both a district and a street (龙华, 南山 …) counts for the district, and
  for the street only when another clue points to the same district;
- conflicting districts: the one with most evidence wins, with lower confidence;
- a geotag is where the writer was (often just a province from the IP address), not where the
  problem is: it may break a tie between districts the text names, never set one alone.
"""
from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from functools import lru_cache

from core.config import Gazetteer
from enrichment.matcher import Match, TermMatcher
from enrichment.normalize import normalize

# Ordinary words that contain a place alias. Matching them (longest wins) and ignoring the
# match stops 新安装的路灯 from landing in 新安街道 or 招商银行 in 招商街道.
BLOCKERS = (
    "新安装", "新安置", "招商银行", "招商引资", "招商加盟", "招商局", "招商会", "光明正大", "光明日报",
    "光明网", "光明乳业", "前途光明", "大鹏展翅", "大浪淘沙", "风口浪尖", "凤凰网", "凤凰卫视",
    "凤凰新闻", "凤凰古城", "世外桃源", "福田汽车", "小区东门", "小区西门", "小区南门", "小区北门",
    "学校东门", "公园东门", "医院东门", "南山必胜客", "新桥梁", "平湖秋月",
)

# Vote weights: how strongly one mention points at a district or street.
_W_DISTRICT = 2.0
_W_STREET = 1.5
_W_PLACE = 1.5
_W_PLACE_ALSO = 0.5  # a road that crosses districts says little about which one
_W_AMBIGUOUS = 1.0   # a bare name that is both a district and a street
_W_AMBIGUOUS_STREET = 0.75
_W_GEOTAG = 0.3


@dataclass(frozen=True)
class Location:
    city: str | None
    district: str | None
    street: str | None
    place: str | None
    lat: float | None
    lon: float | None
    precision: str  # place | street | district | city | outside | none
    confidence: float
    evidence: tuple[str, ...] = ()
    community: str | None = None
    # (start, end) in the normalized text of each mention that supports the chosen district.
    spans: tuple[tuple[int, int], ...] = ()


NOWHERE = Location(None, None, None, None, None, None, "none", 0.0)

# Payloads carried by the automaton.
_City = tuple[str]                 # ("city",)
_District = tuple[str, str]        # ("district", district)
_Street = tuple[str, str, str]     # ("street", district, street)
_Place = tuple[str, int]           # ("place", index into gazetteer.places)
_Blocker = tuple[str]              # ("blocker",)


class Locator:
    """Built once per gazetteer; `locate` is then a single automaton pass."""

    def __init__(self, gazetteer: Gazetteer):
        self.gazetteer = gazetteer
        self._districts = {d.name: d for d in gazetteer.districts}
        self._streets = {(d.name, s.name): s for d in gazetteer.districts for s in d.streets}
        pairs: list[tuple[str, tuple]] = []
        for name in (gazetteer.city, *gazetteer.aliases):
            pairs.append((name, ("city",)))
        for d in gazetteer.districts:
            for name in (d.name, *d.aliases):
                pairs.append((name, ("district", d.name)))
            for s in d.streets:
                for name in (s.name, *s.aliases):
                    pairs.append((name, ("street", d.name, s.name)))
        for i, p in enumerate(gazetteer.places):
            for name in (p.name, *p.aliases):
                pairs.append((name, ("place", i)))
        for o in gazetteer.outside:
            for name in (o.name, *o.aliases):
                pairs.append((name, ("outside", o.name)))
        known = {key for key, _ in pairs}
        for word in BLOCKERS:
            if word not in known:
                pairs.append((word, ("blocker",)))
        self._matcher: TermMatcher[tuple] = TermMatcher(pairs)
        # Geotags repeat ("发布于 广东" on most weibo posts): scan each distinct one once.
        self._scan_geotag = lru_cache(maxsize=4096)(self._scan_geotag_uncached)

    def _scan_geotag_uncached(self, geotag: str) -> tuple[str, list[Match[tuple]]]:
        tag = normalize(geotag).text
        return tag, self.scan(tag)

    def scan(self, text: str) -> list[Match[tuple]]:
        """Gazetteer mentions in normalized text, blockers dropped."""
        return [m for m in self._matcher.find(text) if m.payloads[0] != ("blocker",)]

    def mask(self, text: str, matches: list[Match[tuple]] | None = None) -> str:
        """The text with place names blanked, so rules do not read 坑 in 坑梓 or 桥 in 新桥."""
        matches = self.scan(text) if matches is None else matches
        if not matches:
            return text
        chars = list(text)
        for m in matches:
            for i in range(m.start, min(m.start + len(m.term), len(chars))):
                chars[i] = " "
        return "".join(chars)

    def locate(self, text: str, geotag: str | None = None,
               matches: list[Match[tuple]] | None = None) -> Location:
        """Resolve normalized text (plus the platform's geotag, if any) to a Location."""
        try:
            return self._locate(text or "", geotag, self.scan(text or "") if matches is None else matches)
        except Exception:  # noqa: BLE001 - a bad gazetteer edge case must not kill a batch
            return NOWHERE

    def _locate(self, text: str, geotag: str | None, matches: list[Match[tuple]]) -> Location:
        g = self.gazetteer
        district_votes: dict[str, float] = defaultdict(float)
        street_votes: dict[tuple[str, str], float] = defaultdict(float)
        place_hits: dict[int, float] = defaultdict(float)
        # (district, street, term): bare names waiting for a second clue.
        pending_streets: list[tuple[str, str, str]] = []
        # Which mention voted for a district, so an ambiguous name cannot confirm itself.
        voters: dict[str, set[str]] = defaultdict(set)
        evidence: list[str] = []
        city_seen = False
        outside: list[str] = []
        # district -> spans of the mentions that voted for it
        spans: dict[str, list[tuple[int, int]]] = defaultdict(list)

        prev_end = -1
        prev_districts: set[str] = set()
        voted_places: set[str] = set()
        for m in matches:
            # A place named again (title and body) is the same evidence, not more of it: counted
            # twice, a road's primary district outvoted the street the post names.
            if m.term in voted_places:
                continue
            # 龙岗区龙岗 / 龙岗龙岗: a name right after its district reads as the street, the
            # way addresses are written (district, then street).
            follows = prev_districts if m.start == prev_end else set()
            prev_end = m.start + len(m.term)
            prev_districts = {p[1] for p in m.payloads if p[0] == "district"}
            kinds = defaultdict(list)
            for payload in m.payloads:
                kinds[payload[0]].append(payload)
            before_votes = dict(district_votes)
            if kinds.get("outside"):
                outside.append(kinds["outside"][0][1])
                evidence.append(f"outside:{kinds['outside'][0][1]}({m.term})")
            if kinds.get("city"):
                city_seen = True
                evidence.append(f"city:{g.city}({m.term})")
            places = kinds.get("place", [])
            streets = kinds.get("street", [])
            districts = kinds.get("district", [])
            if places:
                voted_places.add(m.term)
                # A place name shared by several places splits its vote.
                share = 1.0 / len(places)
                for _, idx in places:
                    p = g.places[idx]
                    place_hits[idx] += share
                    district_votes[p.district] += _W_PLACE * share
                    voters[p.district].add(m.term)
                    for other in p.also_districts:
                        district_votes[other] += _W_PLACE_ALSO * share
                        voters[other].add(m.term)
                    if p.street:
                        street_votes[(p.district, p.street)] += _W_PLACE * share
                    evidence.append(f"place:{p.name}({m.term})")
            elif streets and districts:
                share = 1.0 / len(districts)
                for _, d in districts:
                    district_votes[d] += _W_AMBIGUOUS * share
                    voters[d].add(m.term)
                    evidence.append(f"district:{d}({m.term})")
                for _, d, s in streets:
                    if d in follows:
                        street_votes[(d, s)] += _W_STREET
                        evidence.append(f"street:{s}({m.term},after district)")
                    else:
                        pending_streets.append((d, s, m.term))
            elif streets:
                share = 1.0 / len(streets)
                for _, d, s in streets:
                    district_votes[d] += _W_STREET * share
                    street_votes[(d, s)] += _W_STREET * share
                    voters[d].add(m.term)
                    evidence.append(f"street:{s}({m.term})")
            elif districts:
                share = 1.0 / len(districts)
                for _, d in districts:
                    district_votes[d] += _W_DISTRICT * share
                    voters[d].add(m.term)
                    evidence.append(f"district:{d}({m.term})")
            for d, v in district_votes.items():
                if v != before_votes.get(d, 0.0):
                    spans[d].append((m.start, m.start + len(m.term)))

        # A bare name confirms a street only where no clearer clue names one (南山 + 海岸城
        # is 粤海街道, where 海岸城 lies, not 南山街道).
        explicit = {d for (d, _), v in street_votes.items() if v > 0}
        for d, s, term in pending_streets:
            if d not in explicit and voters[d] - {term}:
                street_votes[(d, s)] += _W_AMBIGUOUS_STREET
                evidence.append(f"street:{s}({term},confirmed)")

        geotag_city = False
        if geotag:
            tag, tag_matches = self._scan_geotag(geotag)
            if not tag_matches:
                evidence.append(f"geotag:{tag[:20]}(weak)")
            for m in tag_matches:
                for payload in m.payloads:
                    if payload[0] == "city":
                        geotag_city = True
                    d = payload[1] if payload[0] in ("district", "street") else (
                        g.places[payload[1]].district if payload[0] == "place" else None)
                    # Only a tie-breaker among districts the text itself names.
                    if d is not None and d in district_votes:
                        district_votes[d] += _W_GEOTAG
                        evidence.append(f"geotag:{d}({m.term},weak)")
                    if d is not None:
                        geotag_city = True

        if not district_votes:
            if outside and not city_seen:
                # Somewhere else: say where, so the desk can forward or drop it knowingly.
                return Location(outside[0], None, None, None, None, None, "outside", 0.8,
                                tuple(evidence))
            if city_seen or geotag_city:
                conf = 0.5 if city_seen else 0.2
                return Location(g.city, None, None, None, g.centroid[0], g.centroid[1], "city",
                                conf, tuple(evidence))
            return Location(None, None, None, None, None, None, "none", 0.0, tuple(evidence))

        ranked = sorted(district_votes.items(), key=lambda kv: (-kv[1], kv[0]))
        district, top = ranked[0]
        total = sum(district_votes.values())
        if len(ranked) > 1 and ranked[1][1] == top:
            evidence.append(f"conflict:{ranked[1][0]}(tie)")
        elif len(ranked) > 1:
            evidence.append(f"conflict:{ranked[1][0]}({ranked[1][1]:.1f})")

        street = None
        street_candidates = [(v, s) for (d, s), v in street_votes.items() if d == district]
        if street_candidates:
            street_candidates.sort(key=lambda vs: (-vs[0], vs[1]))
            street = street_candidates[0][1]

        place = None
        place_candidates = [(v, idx) for idx, v in place_hits.items()
                            if g.places[idx].district == district
                            and (street is None or g.places[idx].street in (None, street))]
        if place_candidates:
            place_candidates.sort(key=lambda vi: (-vi[0], vi[1]))
            place = g.places[place_candidates[0][1]]

        # Share of the evidence, scaled down when the evidence itself is thin.
        strength = min(1.0, top / 2.0)
        confidence = round((top / total) * (0.5 + 0.5 * strength), 3)
        if place is not None:
            lat, lon = place.centroid
            precision = "place"
        elif street is not None:
            lat, lon = self._streets[(district, street)].centroid
            precision = "street"
        else:
            lat, lon = self._districts[district].centroid
            precision = "district"
        community = place.name if place is not None and place.kind == "community" else None
        return Location(g.city, district, street, place.name if place else None, lat, lon,
                        precision, confidence, tuple(evidence), community, tuple(spans[district]))
