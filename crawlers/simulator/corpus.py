"""A synthetic, seeded corpus of Shenzhen social-media posts with ground truth.

Contract: `generate(seed, n_posts, end, days)` yields exactly `n_posts` (SimPost, Truth) pairs
in non-decreasing `published_at` order over (end - days, end]. The output depends only on
(seed, n_posts, end, days, gazetteer file): one `random.Random(seed)`, no clock, no global
random, no `hash()` of strings. It streams: memory is bounded by the problems still being
posted about (a heap of at most a few days of problems), never by `n_posts`.

About 60 % of posts are about real problems (about n_posts / 8 problems, 2-8 posts each, on
several platforms, by different people, with weibo reposts and quotes and some cross-posted
copies); about 40 % are noise, including traps that name a real place but report no problem.

A problem is what a desk analyst would call one: ONE specific issue of its type (templates.ISSUES,
e.g. road_damage/井盖松动) at ONE named place of the gazetteer (a road, estate, landmark, metro
station or community; its street and district follow), with a sub-location fixed for the problem.
Its posts paraphrase that issue there; at most one post of a problem of six or more posts names
only the street. Two problems with the same issue at the same place never come within
BLOCK_SECONDS (10 days) of each other, and the generator avoids the same issue in the same street
within that time too (re-drawing the place, so another street when this one is taken). Only when
every place of an issue is taken (corpora far larger than the gazetteer, e.g. 1M posts in 14
days) does a problem get a finer place that all its posts name (a building, exit or house
number, templates.SUB_SPOT), unique among the open problems of that issue at that place. The
bookkeeping keeps only problems of the last BLOCK_SECONDS plus their spread.
"""
from __future__ import annotations

import heapq
import random
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from functools import lru_cache
from pathlib import Path

import yaml

from crawlers.simulator import templates as T

SHANGHAI = timezone(timedelta(hours=8), "Asia/Shanghai")  # same as the adapters' CHINA_TZ
DEFAULT_GAZETTEER = Path(__file__).resolve().parents[2] / "config/gazetteer/shenzhen.yaml"
PLATFORMS = ("weibo", "jiazaishenzhen", "szrss")
_SITE_NAMES = {"weibo": "微博", "jiazaishenzhen": "家在深圳", "szrss": "深圳民生"}

# problem type -> category of the catalogue (the names are the contract with enrichment tests)
CATEGORIES: dict[str, str] = {
    "road_damage": "交通运输",
    "illegal_parking": "交通运输",
    "noise": "生态环境",
    "garbage": "城市管理",
    "streetlight": "城市管理",
    "fire_hazard": "应急消防",
    "water_leak": "水务",
    "prepaid_card": "市场监管",
    "lift_failure": "住房建设",
    "broken_facility": "住房建设",
}
PROBLEM_TYPES = tuple(CATEGORIES)
NOISE_SHARE = 0.40
MAX_SPREAD_SECONDS = 4 * 86400      # a problem's posts fall within a few days of the first
MEAN_GAP_SECONDS = 30 * 3600
COPY_SHARE = 0.15                   # later posts that cross-post an earlier text
WEIBO_ID_BASE = 5_100_000_000_000_000   # 16 digits, grows with time like real mids
FORUM_TID_BASE = 30_000_000
WEIBO_UID_BASE = 5_000_000_000
BLOCK_SECONDS = 10 * 86400          # no same issue at the same place (or street) within this
STREET_ONLY_MIN_POSTS = 6           # a problem needs this many posts before one may omit its place

# noise kind -> (share of noise, platform weights weibo/forum/rss)
_NOISE: tuple[tuple[str, float, tuple[float, float, float]], ...] = (
    ("ad", 0.20, (0.5, 0.5, 0.0)),
    ("gossip", 0.12, (1.0, 0.0, 0.0)),
    ("spam", 0.12, (0.8, 0.2, 0.0)),
    ("news", 0.16, (0.4, 0.0, 0.6)),
    ("chat", 0.20, (0.6, 0.4, 0.0)),
    ("trap", 0.20, (0.6, 0.3, 0.1)),
)


@dataclass(frozen=True)
class SimPost:
    """One post as the platform would show it (formats.py adds the platform's markup)."""
    platform: str            # "weibo" | "jiazaishenzhen" | "szrss"
    native_id: str           # weibo: 16-digit numeric str; forum: thread id; rss: slug/guid
    author_id: str
    author_name: str
    title: str | None        # forum/rss have titles, weibo None
    text: str                # plain text body
    published_at: datetime   # timezone-aware, +08:00
    likes: int
    comments: int
    shares: int
    views: int
    reposted_native_id: str | None   # weibo repost/quote of an earlier weibo post
    geotag: str | None               # weibo "发布于 广东" region label
    media: tuple[str, ...]

    @property
    def post_id(self) -> str:
        return f"{self.platform}:{self.native_id}"


@dataclass(frozen=True)
class Truth:
    """What a post really is: the label the pipeline's output is scored against."""
    post_id: str              # f"{platform}:{native_id}"
    relevant: bool
    problem_id: str | None    # same for every post about one problem (reposts included)
    kind: str                 # problem | repost | quote | ad | gossip | spam | news | chat | trap
    category: str | None      # a CATEGORIES value; None for noise
    district: str | None
    street: str | None
    issue: str | None = None  # the problem's specific issue (templates.Issue.key); None for noise
    place: str | None = None  # the gazetteer place it is at; None for noise
    spot: str | None = None   # a finer place all its posts name (templates.SUB_SPOT), rarely set


@dataclass(frozen=True)
class Spot:
    """Where a problem (or a trap) is: district, street and optionally a named place."""
    district: str
    district_alias: str
    street: str | None
    street_alias: str | None
    place: str | None
    kind: str | None          # place kind (road, estate, ...) or None for a bare street


@dataclass(frozen=True)
class World:
    streets: tuple[Spot, ...]     # bare streets (no place)
    places: tuple[Spot, ...]      # named places with their district/street
    districts: tuple[str, ...]

    @staticmethod
    def load(path: Path | str = DEFAULT_GAZETTEER) -> "World":
        return _load_world(str(path))


@lru_cache(maxsize=4)
def _load_world(path: str) -> World:
    doc = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
    d_alias: dict[str, str] = {}
    s_alias: dict[str, str] = {}
    streets: list[Spot] = []
    for d in doc["districts"]:
        d_alias[d["name"]] = (d.get("aliases") or [d["name"]])[0]
        for s in d.get("streets", []):
            s_alias[s["name"]] = (s.get("aliases") or [s["name"]])[0]
            streets.append(Spot(d["name"], d_alias[d["name"]], s["name"], s_alias[s["name"]], None, None))
    places = [Spot(p["district"], d_alias[p["district"]], p.get("street"),
                   s_alias.get(p.get("street") or "", None), p["name"], p["kind"])
              for p in doc.get("places", [])]
    return World(tuple(streets), tuple(places), tuple(d_alias))


# Keys of the "taken until" book: small ints hash fast. Plain place keys are even, street keys
# odd (both < _FINE); a finer place is _FINE * (1 + place key) + its SUB_SPOT index.
_FINE = 1 << 20


@lru_cache(maxsize=4)
def _issue_places(world: World) -> dict[str, tuple[tuple[Spot, int, int], ...]]:
    """Issue key -> (place, place key, street key or -1) of the named places it can happen at."""
    out = {}
    streets: dict[tuple[str, str, str], int] = {}
    n = 0
    for issues in T.ISSUES.values():
        for issue in issues:
            fit = tuple(p for p in world.places if issue.kinds is None or p.kind in issue.kinds)
            rows = []
            for p in fit or world.places:
                n += 1
                skey = -1 if p.street is None else streets.setdefault(
                    (issue.key, p.district, p.street), 2 * len(streets) + 1)
                rows.append((p, 2 * n, skey))
            out[issue.key] = tuple(rows)
    return out


class _Problem:
    """A problem being posted about; lives in the heap until its last post is out."""
    __slots__ = ("pid", "ptype", "category", "issue", "spot", "sub", "forced", "vague", "dues",
                 "weibo", "texts", "used", "platforms")

    def __init__(self, pid: str, ptype: str, issue: T.Issue, spot: Spot, sub: str, forced: bool,
                 dues: list[float]) -> None:
        self.pid = pid
        self.ptype = ptype
        self.category = CATEGORIES[ptype]
        self.issue = issue
        self.spot = spot                               # always a named place
        self.sub = sub                                 # fixed sub-location ("" = none)
        self.forced = forced                           # sub is a SUB_SPOT every post names
        self.vague = 1 if len(dues) >= STREET_ONLY_MIN_POSTS and spot.street else 0  # street-only posts left
        self.dues = dues                               # ascending due times of posts still to come
        self.weibo: list[tuple[str, str, str]] = []    # (native_id, author_name, text) of originals
        self.texts: list[tuple[str, str | None, str, int]] = []   # (platform, title, text, uid)
        self.used: set[int] = set()                    # template indexes already used
        self.platforms: list[str] = []


def _nick(uid: int) -> str:
    name = T.NICK_HEADS[uid % len(T.NICK_HEADS)] + T.NICK_TAILS[(uid // 17) % len(T.NICK_TAILS)]
    return name + str(uid % 1000) if uid % 3 == 0 else name


def _reporter(uid: int) -> str:
    return "记者 " + T.SURNAMES[uid % len(T.SURNAMES)] + T.GIVEN[(uid // 31) % len(T.GIVEN)]


class _Generator:
    def __init__(self, seed: int, n_posts: int, end: datetime, days: int, world: World) -> None:
        self.rng = random.Random(seed)
        self.n = n_posts
        end = end.replace(tzinfo=SHANGHAI) if end.tzinfo is None else end
        self.end_ts = end.timestamp()
        self.start_ts = self.end_ts - days * 86400
        self.world = world
        self.n_problems = 0
        self.issue_places = _issue_places(world)
        # place / street / finer-place key (see _FINE) -> time until which it is taken
        self.busy: dict[int, float] = {}
        self.prune_at = 1024
        self.saturated: set[str] = set()

    # -- helpers --------------------------------------------------------------------------

    def _pick_platform(self, weights: tuple[float, float, float]) -> str:
        r = self.rng.random()
        if r < weights[0]:
            return "weibo"
        if r < weights[0] + weights[1]:
            return "jiazaishenzhen"
        return "szrss"

    def _engagement(self, platform: str, boost: float) -> tuple[int, int, int, int]:
        rng = self.rng
        likes = int((rng.paretovariate(1.2) - 1.0) * 6 * boost)
        comments = int(likes * 0.5 * rng.random()) + (1 if boost > 1 and likes else 0)
        if platform == "weibo":
            return likes, comments, int(likes * 0.3 * rng.random()), 0
        if platform == "jiazaishenzhen":
            return likes, comments, 0, 30 + likes * 25 + int(rng.random() * 400)
        return likes, comments, 0, 0

    def _media(self, platform: str, i: int) -> tuple[str, ...]:
        rng = self.rng
        if rng.random() > (0.3 if platform == "weibo" else 0.2):
            return ()
        out = []
        for k in range(1 + int(rng.random() * 3)):
            h = f"{rng.getrandbits(64):016x}"
            if platform == "weibo":
                out.append(f"https://wx{1 + k}.sinaimg.cn/large/006{h}ly1{i:x}.jpg")
            elif platform == "jiazaishenzhen":
                out.append(f"https://attach.szhome.com/forum/202611/{h}{k}.jpg")
            else:
                out.append(f"https://img.sznews.com/{h}{k}.jpg")
        return tuple(out)

    def _author(self, platform: str, uid: int) -> tuple[str, str]:
        if platform == "weibo":
            return str(WEIBO_UID_BASE + uid), _nick(uid)
        if platform == "jiazaishenzhen":
            return str(uid), _nick(uid)
        name = _reporter(uid) if uid % 2 else "市民来信"
        return name, name

    def _native_id(self, platform: str, i: int, ts: float) -> str:
        if platform == "weibo":
            return str(WEIBO_ID_BASE + i * 1000 + int(self.rng.random() * 1000))
        if platform == "jiazaishenzhen":
            return str(FORUM_TID_BASE + i)
        day = datetime.fromtimestamp(ts, SHANGHAI)
        return f"ms-{day.year}{day.month:02d}{day.day:02d}-{i:07d}"

    def _geotag(self, platform: str) -> str | None:
        if platform != "weibo":
            return None
        r = self.rng.random()
        if r < 0.85:
            return "发布于 广东"
        if r < 0.95:
            return ("发布于 香港", "发布于 湖南", "发布于 湖北", "发布于 北京")[int(r * 100) % 4]
        return None

    def _post(self, platform: str, i: int, ts: float, uid: int, title: str | None, text: str,
              boost: float, reposted: str | None = None) -> SimPost:
        author_id, author_name = self._author(platform, uid)
        likes, comments, shares, views = self._engagement(platform, boost)
        return SimPost(platform, self._native_id(platform, i, ts), author_id, author_name,
                       title, text, datetime.fromtimestamp(ts, SHANGHAI), likes, comments, shares,
                       views, reposted, self._geotag(platform), self._media(platform, i))

    def _pick_spot(self, want_place: bool) -> Spot:
        w, rng = self.world, self.rng
        if want_place or not w.streets:
            return w.places[int(rng.random() * len(w.places))]
        return w.streets[int(rng.random() * len(w.streets))]

    def _loc(self, spot: Spot, named: bool = True) -> str:
        """A location phrase: the place, sometimes with its street and/or district; or, when not
        `named` (or a bare street), only the street."""
        r = self.rng.random()
        d, da, s, sa, p = spot.district, spot.district_alias, spot.street, spot.street_alias, spot.place
        if p is None or (not named and s is not None):
            return (d + s) if r < 0.4 else s if r < 0.65 else (da + sa) if r < 0.85 else (d + sa)
        if p.startswith(da):    # 福田红树林…: never "福田福田红树林"
            da = d = ""
        if s is None:
            return p if r < 0.5 else (d + p) if r < 0.8 else (da + p)
        if sa and p.startswith(sa):
            sa = ""
        if r < 0.2:
            return d + s + p
        if r < 0.38:
            return s + p
        if r < 0.73:
            return p
        if r < 0.88:
            return da + p
        return sa + p

    def _decorate_weibo(self, text: str, spot: Spot | None) -> str:
        rng = self.rng
        r = rng.random()
        if r < 0.25:
            text = T.HASHTAGS[int(r * 16) % len(T.HASHTAGS)] + text
        elif r < 0.4 and spot is not None:
            text = f"#{spot.district_alias}#" + text
        if rng.random() < 0.3:
            text += T.EMOJI[int(rng.random() * len(T.EMOJI))]
        if rng.random() < 0.15:
            text = T.MENTIONS[int(rng.random() * len(T.MENTIONS))] + " " + text
        return text

    def _variant(self, text: str) -> str:
        """Occasional traditional characters, half-width punctuation or full-width digits."""
        r = self.rng.random()
        if r < 0.05:
            return text.translate(T.TRADITIONAL)
        if r < 0.15:
            return text.translate(T.HALF_WIDTH)
        if r < 0.18:
            return text.translate(T.FULL_WIDTH_DIGITS)
        return text

    # -- problems -------------------------------------------------------------------------

    def _new_problem(self, ts: float) -> _Problem:
        rng = self.rng
        self.n_problems += 1
        k = 2 + int(rng.random() * 7)
        horizon = self.end_ts
        dues = sorted(min(ts + min(rng.expovariate(1.0 / MEAN_GAP_SECONDS), MAX_SPREAD_SECONDS), horizon)
                      for _ in range(k))
        dues[0] = ts
        ptype = PROBLEM_TYPES[int(rng.random() * len(PROBLEM_TYPES))]
        issues = T.ISSUES[ptype]
        issue = issues[int(rng.random() * len(issues))]
        # (a day more: a post can come out a little after it is due)
        spot, sub, forced = self._claim_place(issue.key, ts, dues[-1] + BLOCK_SECONDS + 86400)
        return _Problem(f"P{self.n_problems:06d}", ptype, issue, spot, sub, forced, dues)

    def _claim_place(self, ik: str, ts: float, until: float) -> tuple[Spot, str, bool]:
        """A place for a new problem of issue `ik` starting at `ts`, taken until `until`: first a
        place whose street has no such problem open, then any place with none open, and only when
        all are taken a finer SUB_SPOT of a place. Returns (place, sub-location, forced)."""
        rng, busy = self.rng, self.busy
        places = self.issue_places[ik]
        n = len(places)
        # An issue whose places were all taken last time gets only a short look before the finer
        # places (keeps a saturated corpus fast); a plain place found clears the mark.
        saturated = ik in self.saturated
        for tries, street_too in (((0, True), (4, False)) if saturated else ((10, True), (20, False))):
            for _ in range(tries):
                spot, pkey, skey = places[int(rng.random() * n)]
                if busy.get(pkey, 0.0) > ts or (street_too and busy.get(skey, 0.0) > ts):
                    continue
                subs = T.SPOT[spot.kind]
                self.saturated.discard(ik)
                self._take(pkey, skey, until, ts)
                return spot, subs[int(rng.random() * len(subs))], False
        self.saturated.add(ik)
        for tries in range(256):
            spot, pkey, skey = places[int(rng.random() * n)]
            subs = T.SUB_SPOT[spot.kind or "landmark"]
            j = int(rng.random() * len(subs))
            fkey = _FINE * (1 + pkey) + j
            if tries == 255:    # a house number unique to this problem: the finer places ran out
                fkey, sub = -1 - self.n_problems, f"{self.n_problems}号"
            if busy.get(fkey, 0.0) <= ts:
                busy[fkey] = until
                # keep the bare place taken too, so no plain problem opens beside this one
                self._take(pkey, skey, until, ts)
                return spot, subs[j] if tries < 255 else sub, True
        raise AssertionError("unreachable: the last sub-location is unique")

    def _take(self, pkey: int, skey: int, until: float, ts: float) -> None:
        busy = self.busy
        if busy.get(pkey, 0.0) < until:
            busy[pkey] = until
        if skey >= 0 and busy.get(skey, 0.0) < until:
            busy[skey] = until
        if len(busy) > self.prune_at:       # amortised O(1): memory stays O(open problems)
            self.busy = {k: v for k, v in busy.items() if v > ts}
            self.prune_at = max(1024, 2 * len(self.busy))

    def _problem_text(self, pr: _Problem, want_title: bool) -> tuple[str | None, str, bool]:
        """A fresh wording (title, body, names the place) of the problem's issue at its place,
        avoiding wordings already used. Only the street (no place) in at most `pr.vague` later
        posts."""
        rng = self.rng
        issue = pr.issue
        nb, nf = len(issue.bodies), len(T.FRAMES)
        total = nb + nf * len(issue.whats)
        idx = int(rng.random() * total)
        while idx in pr.used and len(pr.used) < total:
            idx = (idx + 1) % total
        pr.used.add(idx)
        named = True
        if pr.vague and pr.texts and rng.random() < 0.35:
            named = False
            pr.vague -= 1
        if not named:
            spot = T.SPOT[None][int(rng.random() * len(T.SPOT[None]))]
        elif pr.forced or rng.random() < 0.7:
            spot = pr.sub
        else:
            spot = ""
        slots = {
            "loc": self._loc(pr.spot, named), "spot": spot,
            "dur": T.DUR[int(rng.random() * len(T.DUR))], "when": T.WHEN[int(rng.random() * len(T.WHEN))],
            "harm": issue.harms[int(rng.random() * len(issue.harms))],
            "ask": T.ASK[int(rng.random() * len(T.ASK))],
            "what": issue.whats[(idx - nb) // nf] if idx >= nb else "",
        }
        body = (issue.bodies[idx] if idx < nb else T.FRAMES[(idx - nb) % nf]).format(**slots)
        if rng.random() < 0.2:
            body = T.FEELINGS[int(rng.random() * len(T.FEELINGS))] + body
        if not want_title:
            return None, body, named
        if pr.forced and named:
            slots["loc"] += pr.sub      # a finer place is in every title too
        return issue.titles[int(rng.random() * len(issue.titles))].format(**slots), body, named

    def _problem_post(self, pr: _Problem, i: int, ts: float) -> tuple[SimPost, Truth]:
        rng = self.rng
        spot = pr.spot
        uid = 1 + int(rng.random() * 3_000_000)
        kind = "problem"
        reposted = None
        named = True
        r = rng.random()
        if pr.texts and r < COPY_SHARE:
            # Cross-posting: the same (or nearly the same) words on another platform.
            src_platform, title, text, uid = pr.texts[int(rng.random() * len(pr.texts))]
            platform = self._pick_platform((0.5, 0.3, 0.2))
            if platform == src_platform:
                platform = PLATFORMS[(PLATFORMS.index(platform) + 1 + int(rng.random() * 2)) % 3]
            if rng.random() < 0.5:
                text = ("转：" + text) if rng.random() < 0.5 else (text + "（转自" + _SITE_NAMES[src_platform] + "）")
            if platform == "weibo":
                title = None
            elif title is None:
                title = text[:24]
        elif pr.weibo and r < COPY_SHARE + 0.25:
            orig_id, orig_author, orig_text = pr.weibo[int(rng.random() * len(pr.weibo))]
            platform, title, reposted = "weibo", None, orig_id
            if rng.random() < 0.65:
                kind = "repost"
                text = (T.REPOST_TEXTS[int(rng.random() * len(T.REPOST_TEXTS))] if rng.random() < 0.6
                        else f"//@{orig_author}: {orig_text[:60]}")
            else:
                kind = "quote"
                text = T.QUOTE_TEXTS[int(rng.random() * len(T.QUOTE_TEXTS))]
                if rng.random() < 0.3:
                    text += " " + T.MENTIONS[int(rng.random() * len(T.MENTIONS))]
                if rng.random() < 0.4:
                    text += f"//@{orig_author}: {orig_text[:40]}"
        else:
            platform = self._pick_platform((0.55, 0.25, 0.20))
            if len(pr.platforms) == 1 and platform == pr.platforms[0] and rng.random() < 0.8:
                # Most problems reach a second platform: people cross the fence.
                platform = PLATFORMS[(PLATFORMS.index(platform) + 1 + int(rng.random() * 2)) % 3]
            title, text, named = self._problem_text(pr, platform != "weibo")
            if platform == "weibo":
                title = None
                text = self._decorate_weibo(text, spot)
            elif platform == "szrss":
                frame = T.RSS_FRAMES[int(rng.random() * len(T.RSS_FRAMES))]
                text = frame.format(body=text.rstrip("！!？?。"), name=T.SURNAMES[uid % len(T.SURNAMES)] + "先生")
            elif rng.random() < 0.3:
                text += "\n各位邻居有遇到同样情况的吗？"
            text = self._variant(text)
        post = self._post(platform, i, ts, uid, title, text, 2.0, reposted)
        if kind == "problem" and named:     # nobody copies or quotes a post without the place
            pr.texts.append((platform, title, text, uid))
            if platform == "weibo":
                pr.weibo.append((post.native_id, post.author_name, text))
        pr.platforms.append(platform)
        return post, Truth(post.post_id, True, pr.pid, kind, pr.category, spot.district, spot.street,
                           pr.issue.key, spot.place, pr.sub if pr.forced else None)

    # -- noise ----------------------------------------------------------------------------

    def _noise_post(self, i: int, ts: float) -> tuple[SimPost, Truth]:
        rng = self.rng
        r = rng.random()
        for kind, share, weights in _NOISE:
            if r < share:
                break
            r -= share
        platform = self._pick_platform(weights)
        uid = 1 + int(rng.random() * 3_000_000)
        n = 1 + int(rng.random() * 98)
        spot = self._pick_spot(True)
        fill = {"district": spot.district, "street": spot.street or spot.district, "place": spot.place,
                "n": n, "k": 5 + n % 15, "c": T.CONTACTS[int(rng.random() * len(T.CONTACTS))].format(n=n), "x": ""}
        title: str | None = None
        district = street = None
        if kind == "ad":
            text = T.ADS[int(rng.random() * len(T.ADS))].format(**fill)
        elif kind == "gossip":
            fill["x"] = T.STARS[int(rng.random() * len(T.STARS))]
            text = T.GOSSIP[int(rng.random() * len(T.GOSSIP))].format(**fill)
        elif kind == "spam":
            if rng.random() < 0.4:
                chars = T.RANDOM_CHARS
                text = "".join(chars[int(rng.random() * len(chars))] for _ in range(8 + n % 20))
            else:
                text = T.SPAM[int(rng.random() * len(T.SPAM))].format(**fill)
        elif kind == "news":
            j = int(rng.random() * len(T.NEWS))
            text = T.NEWS[j].format(**fill)
            title = T.NEWS_TITLES[j].format(**fill)
        elif kind == "chat":
            text = T.CHAT[int(rng.random() * len(T.CHAT))].format(**fill)
        else:
            text = T.TRAPS[int(rng.random() * len(T.TRAPS))].format(**fill)
            district, street = spot.district, spot.street
        if platform == "weibo":
            if kind in ("trap", "chat"):
                text = self._decorate_weibo(text, spot if kind == "trap" else None)
        elif title is None:
            title = text[:20]
        post = self._post(platform, i, ts, uid, title, text, 1.0)
        return post, Truth(post.post_id, False, None, kind, None, district, street)

    # -- the stream -----------------------------------------------------------------------

    def __iter__(self) -> Iterator[tuple[SimPost, Truth]]:
        rng = self.rng
        n = self.n
        if n <= 0:
            return
        slot = (self.end_ts - self.start_ts) / n
        heap: list[tuple[float, int, _Problem]] = []   # (next due, tiebreak, problem)
        pending = 0                                    # posts still owed by problems in the heap
        seq = 0
        relevant_share = 1.0 - NOISE_SHARE
        for i in range(n):
            ts = min(float(int(self.start_ts + slot * (i + rng.random())) + 1), self.end_ts)
            remaining = n - i
            r = rng.random()
            # Near the end, stop opening problems and drain the open ones so (almost) every
            # problem gets all its posts; otherwise due posts first, then a new problem.
            if pending >= remaining or (r >= NOISE_SHARE and heap and
                                        (heap[0][0] <= ts or pending >= remaining * relevant_share)):
                _, _, pr = heapq.heappop(heap)
                pr.dues.pop(0)
                pending -= 1
                out = self._problem_post(pr, i, ts)
                if pr.dues:
                    seq += 1
                    heapq.heappush(heap, (pr.dues[0], seq, pr))
                yield out
            elif r < NOISE_SHARE:
                yield self._noise_post(i, ts)
            else:
                pr = self._new_problem(ts)
                pr.dues.pop(0)
                out = self._problem_post(pr, i, ts)
                if pr.dues:
                    pending += len(pr.dues)
                    seq += 1
                    heapq.heappush(heap, (pr.dues[0], seq, pr))
                yield out


def generate(seed: int, n_posts: int, end: datetime, days: int = 14,
             gazetteer: Path | str = DEFAULT_GAZETTEER) -> Iterator[tuple[SimPost, Truth]]:
    """Stream `n_posts` (post, truth) pairs ending at `end` (naive = Asia/Shanghai), in time order."""
    return iter(_Generator(seed, n_posts, end, days, World.load(gazetteer)))
