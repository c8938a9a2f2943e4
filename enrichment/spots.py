"""Where exactly: the named place a post is about and the detail address within it.

Contract: `find_spot(text, known_place=None, masked=None) -> Spot(place, key, detail)`, on
normalized text; never raises. `place` is the gazetteer place when the post names one (the
caller passes it), else the estate, facility or road the text names by pattern (魅力之城小区,
同超物流园, 中梁云麓传奇工地, 小塘路): most estates are in no gazetteer. `key` is the place's
identity, what two posts must share to be about one place (小区 dropped: 魅力之城小区 is
魅力之城). `detail` is where within it, as (kind, value) pairs: building (3栋, A区12栋, 7号楼),
unit (2单元), exit (B2出口), gate (东门, 3号门), lane (12巷), number (18号), section (a
road between two crossings, 漓楚路-盼盼路) and venue (a business or facility there: 美容院,
搅拌站).

Two posts whose details of one kind differ (3栋 and 5栋) are about different spots; a post
naming no detail of that kind is compatible with any (absence is not evidence). `masked` is
the text with gazetteer names blanked: a district or street name then bounds an estate name
instead of becoming part of it (福田区 + 景田花园, not 福田区景田花园).
"""
from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass

from core.models import DETAIL_KINDS

_NUM = r"[0-9一二三四五六七八九十百两]+"
_ROAD_ENDINGS = ("路", "街", "大道")
_ROAD = r"[^\s\W\dA-Za-z路街从到至与和在区县市镇]{1,6}(?:路|街|大道)"
# A business or facility within a place: the gym and the beauty salon by one park that both
# closed owing their members are two cases. Synonyms map to one name.
_VENUES = {
    "美容院": "美容院", "美容店": "美容院", "理发店": "理发店", "发廊": "理发店", "美发店": "理发店",
    "健身房": "健身房", "健身中心": "健身房", "游泳馆": "游泳馆", "游泳池": "游泳馆", "培训机构": "培训机构",
    "培训班": "培训机构", "培训中心": "培训机构", "补习班": "培训机构", "早教中心": "早教中心", "早教机构": "早教中心",
    "托管班": "托管班", "餐馆": "餐馆", "饭店": "餐馆", "餐厅": "餐馆", "烧烤店": "烧烤店", "大排档": "大排档",
    "KTV": "KTV", "ktv": "KTV", "酒吧": "酒吧", "网吧": "网吧", "棋牌室": "棋牌室", "麻将馆": "棋牌室",
    "足浴店": "足浴店", "按摩店": "足浴店", "药店": "药店", "诊所": "诊所", "加油站": "加油站", "洗车店": "洗车店",
    "汽修店": "汽修店", "修车店": "汽修店", "宠物店": "宠物店", "奶茶店": "奶茶店", "民宿": "民宿", "宾馆": "宾馆",
    "旅馆": "宾馆", "搅拌站": "搅拌站", "搅拌厂": "搅拌站", "洗砂场": "洗砂场", "碎石场": "碎石场",
    "垃圾站": "垃圾站", "垃圾中转站": "垃圾站", "变电站": "变电站",
}
_DETAIL_PATTERNS: tuple[tuple[str, re.Pattern], ...] = (
    # A区12栋 / 12栋 / 7号楼 / 3幢 / 2座: the area letter belongs to the building
    ("building", re.compile(rf"(?<![A-Za-z0-9])((?:[A-Da-d]区)?(?:[A-Za-z]?{_NUM}))(?:栋|幢|号楼|座(?!谈|位|椅))")),
    ("unit", re.compile(rf"({_NUM})单元")),
    ("exit", re.compile(r"(?<![A-Za-z0-9])([A-Ka-k][0-9]?)(?:号)?出口")),
    ("gate", re.compile(rf"([东南西北]|{_NUM}号)门(?!口诊|户|票|槛|店|面|卫|诊)")),
    ("lane", re.compile(rf"({_NUM})巷")),
    # 18号 but not 3月5号, 1号线, 7号楼, 3号门, 12号出口
    ("number", re.compile(r"(?<![月0-9])([0-9]{1,4})号(?![线楼门院出口])")),
    ("section", re.compile(rf"({_ROAD})(?:至|到|与|和|—|-)({_ROAD})(?:之间|路段|段|交叉口|交汇处|路口|交界处)")),
    ("venue", re.compile("|".join(sorted(_VENUES, key=len, reverse=True)))),
)

# Suffixes that end a place's name, longest first so 大市场 wins over 市场.
_SUFFIXES = (
    "小区", "花园", "家园", "新村", "新城", "公寓", "大厦", "广场", "山庄", "雅苑", "华庭", "豪庭", "名苑", "街区",
    "大市场", "农贸市场", "乐园", "家园", "市场", "物流园", "工业园", "产业园", "科技园", "园区", "公园", "学院", "大学", "中学",
    "小学", "幼儿园", "医院", "卫生院", "搅拌站", "工地", "地铁站", "车站", "商场", "大道", "苑", "府", "庭", "湾",
    "城", "村", "路", "街",
)
_SUFFIX = re.compile("|".join(sorted(_SUFFIXES, key=len, reverse=True)))
# What can follow a suffix without it ending a name: 城市, 城管, 村民, 路灯, 街道, 学院路 …
_NOT_AFTER = {
    "城": "市管乡区镇建际铁轨", "村": "民委干集组里级", "路": "灯面口段边况上线政由费基况过人程", "街": "道头舞边",
    "府": "办", "苑": "", "湾": "区", "庭": "院审", "市场": "监价化经主部", "大道": "理",
}
# A name does not start with these (they end the words before it).
_BOUNDARY = re.compile(r"[的是在于住到从对向给把被了和与及或、，。！？：；,.!?:;()（）“”\"'\s《》【】\[\]#@0-9A-Za-z号市区县镇乡省]")
_LEADING = ("我们", "我家", "我的", "我", "关于", "投诉", "反映", "举报", "请问", "建议", "希望", "要求", "咨询",
            "位于", "地处", "所在", "就是", "还有", "整个", "附近", "周边", "周围", "旁边", "对面", "隔壁", "请",
            "该", "本", "这个", "那个", "这", "那", "各", "每个", "其他", "其它", "一个", "个", "原", "新建", "在建",
            "商品房", "进")
# Names that name no particular place.
_GENERIC = {
    "老旧", "老", "新", "商品房", "安置", "拆迁", "棚改", "高档", "普通", "农", "乡", "城中", "全", "县", "进", "出",
    "道", "马", "公", "大", "小", "铁", "公交", "学", "中", "医", "农贸", "菜", "工业", "物流", "科技", "产业",
    "家", "马路", "市政", "这条", "那条", "一条", "主干", "道路", "水泥", "城乡", "农村", "城市", "省", "市",
}
# The character before a suffix that makes it a common word: 线路, 马路, 政府, 农村 …
_NOT_BEFORE = {"路": "线道马公铁思出门走修过网电一沿回让带开绕半岔跑", "府": "政王", "村": "农乡", "城": "进全县省京", "庭": "家法宫前门", "园": "家校田",
               "街": "上逛大", "湾": "港台"}
# Words that end the text before a name (verbs and connectives a name never starts with).
_LEADING_WORDS = re.compile("如今|因为|所以|但是|进一步|孩子|恳请|每个|如|要上|要去|去|来|到|就读|上班|居住|购买|买了|入住")
MAX_NAME = 8  # characters before the suffix
# What ends the words before a name inside its stem: a street or road (劳动东路魅力之城 is
# 魅力之城 on 劳动东路) or a facility (搅拌站丽发新城). Measured on the hand-checked real messages:
# left in, one estate got a dozen keys (万家丽南路丽发新城, 噪音污水影响丽发新城, ...).
_BOUNDS = ("街道", "社区", "大道", "路", "街", "-", "—", "搅拌站", "工地", "影响", "取消", "附近", "旁边")


@dataclass(frozen=True)
class Spot:
    place: str | None = None  # as the text names it
    key: str | None = None  # identity: equal keys are one place
    detail: tuple[tuple[str, str], ...] = ()  # (kind, value), one value per kind, in DETAIL_KINDS order

    def detail_text(self) -> str:
        return " ".join(v for _, v in self.detail)


NO_SPOT = Spot()


def place_key(name: str) -> str:
    """Identity of a place name: 魅力之城小区 and 魅力之城 are one estate."""
    name = name.replace("·", "").replace("•", "")
    for generic in ("小区", "社区"):
        if name.endswith(generic) and len(name) - len(generic) >= 2:
            return name[: -len(generic)]
    return name


def named_places(text: str) -> list[tuple[int, str]]:
    """(start, name) of each place named by pattern, in order."""
    out = []
    for m in _SUFFIX.finditer(text):
        suffix = m.group(0)
        following = text[m.end(): m.end() + 1]
        if following and following in _NOT_AFTER.get(suffix, ""):
            continue
        start = m.start()
        if start and text[start - 1] in _NOT_BEFORE.get(suffix, ""):
            continue
        lo = max(0, start - MAX_NAME)
        cut = start
        while cut > lo and not _BOUNDARY.match(text[cut - 1]):
            cut -= 1
        stem = text[cut:start]
        for bound in _BOUNDS:  # 洋湖街道 + 工地, 劳动东路 + 魅力之城: the street is not part of the name
            at = stem.rfind(bound, 0, len(stem) - 1)
            if at >= 0 and len(stem) - at - len(bound) >= 2:
                cut += at + len(bound)
                stem = text[cut:start]
        words = list(_LEADING_WORDS.finditer(stem))
        if words:
            cut += words[-1].end()
            stem = text[cut:start]
        changed = True
        while changed and stem:
            changed = False
            for lead in _LEADING:
                if stem.startswith(lead) and len(stem) > len(lead):
                    stem, cut, changed = stem[len(lead):], cut + len(lead), True
                    break
        if len(stem) < 2 or stem in _GENERIC or stem in _LEADING:
            continue
        out.append((cut, stem + suffix))
    return out


def details(text: str) -> tuple[tuple[str, str], ...]:
    """The detail address the text names, the first value of each kind."""
    found: dict[str, str] = {}
    for kind, pattern in _DETAIL_PATTERNS:
        m = pattern.search(text)
        if m is None:
            continue
        if kind == "section":
            found[kind] = "-".join(sorted((m.group(1), m.group(2))))
        elif kind == "venue":
            found[kind] = _VENUES[m.group(0)]
        else:
            found[kind] = m.group(0).upper() if kind in ("building", "exit") else m.group(0)
    return tuple((k, found[k]) for k in DETAIL_KINDS if k in found)


def find_spot(text: str, known_place: str | None = None, masked: str | None = None) -> Spot:
    """The place `text` is about and the detail within it (module docstring)."""
    try:
        return _find_spot(text or "", known_place, masked)
    except Exception:  # noqa: BLE001 - a pattern edge case must not kill a batch
        return NO_SPOT


def _without(text: str, name: str) -> str:
    """`text` with `name` blanked: a place's own name holds no detail (香蜜湖一号楼下 is not
    building 一号楼)."""
    return text.replace(name, "\u3000" * len(name)) if name else text


def _find_spot(text: str, known_place: str | None, masked: str | None) -> Spot:
    if known_place:
        keep = known_place.endswith(_ROAD_ENDINGS)
        return Spot(known_place, place_key(known_place), details(text if keep else _without(text, known_place)))
    names = named_places(masked if masked is not None and len(masked) == len(text) else text)
    if not names:
        return Spot(None, None, details(text))
    # A road is a place only when nothing finer is named: 小塘路 bounds where, 魅力之城 is where.
    fine = [(s, n) for s, n in names if not n.endswith(_ROAD_ENDINGS)] or names
    # The title says what the post is about: a place it names counts double.
    title_end = text.find("\n")
    counts = Counter()
    for s, n in fine:
        counts[place_key(n)] += 3 if 0 <= s < title_end else 1
    first = {}
    for s, n in fine:
        first.setdefault(place_key(n), (s, n))
    key = max(counts, key=lambda k: (counts[k], -first[k][0]))
    name = first[key][1]
    # a road's name stays: it bounds a section (小塘路从漓楚路到盼盼路段)
    return Spot(name, key, details(text if name.endswith(_ROAD_ENDINGS) else _without(text, name)))


def conflicting(a: tuple[tuple[str, str], ...], b: tuple[tuple[str, str], ...]) -> bool:
    """True when both name a detail of one kind and the values differ."""
    other = dict(b)
    return any(kind in other and other[kind] != value for kind, value in a)
