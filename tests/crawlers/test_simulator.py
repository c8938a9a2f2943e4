"""The platform simulator: a deterministic streaming corpus with truth, and a local server that
speaks weibo's container API, a Discuz! board and an RSS feed, with faults."""
from __future__ import annotations

import json
import resource
import tracemalloc
import urllib.error
import urllib.request
import xml.etree.ElementTree as ET
from collections import Counter, defaultdict
from datetime import datetime, timedelta, timezone
from itertools import islice

import pytest
import yaml

from crawlers.simulator import templates as T
from crawlers.simulator.corpus import (BLOCK_SECONDS, CATEGORIES, DEFAULT_GAZETTEER, SHANGHAI,
                                       STREET_ONLY_MIN_POSTS, World, generate)
from crawlers.simulator.server import Fault, SimulatorServer

END = datetime(2026, 11, 21, 12, tzinfo=timezone.utc)


def _fetch(url: str) -> tuple[int, bytes, dict[str, str]]:
    class NoRedirect(urllib.request.HTTPRedirectHandler):
        def redirect_request(self, *args, **kwargs):  # a 302 is the answer under test
            return None

    opener = urllib.request.build_opener(NoRedirect)
    try:
        with opener.open(url, timeout=5) as resp:
            return resp.status, resp.read(), dict(resp.headers)
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read(), dict(exc.headers)


# --- corpus --------------------------------------------------------------------------------

def test_same_seed_same_corpus_other_seed_other_corpus():
    a = list(islice(generate(7, 5000, END), 500))
    b = list(islice(generate(7, 5000, END), 500))
    c = list(islice(generate(8, 5000, END), 500))
    assert a == b
    assert [p.text for p, _ in a] != [p.text for p, _ in c]


def test_categories_are_the_contract():
    assert CATEGORIES == {
        "road_damage": "交通运输", "illegal_parking": "交通运输", "noise": "生态环境",
        "garbage": "城市管理", "streetlight": "城市管理", "fire_hazard": "应急消防",
        "water_leak": "水务", "prepaid_card": "市场监管", "lift_failure": "住房建设",
        "broken_facility": "住房建设"}


@pytest.fixture(scope="module")
def stream_stats():
    """One 50k-post pass keeping only aggregates, with the process's peak RSS before and after."""
    gz = yaml.safe_load(DEFAULT_GAZETTEER.read_text(encoding="utf-8"))
    streets = {d["name"]: {s["name"] for s in d["streets"]} for d in gz["districts"]}
    stats = {"n": 0, "kinds": Counter(), "platforms": defaultdict(set), "posts": Counter(),
             "bad_place": 0, "bad_repost": 0, "reposts": 0, "weibo_seen": set(), "out_of_order": 0,
             "texts": defaultdict(set), "copies": 0, "categories": set(),
             "where": {}, "span": {}, "mixed": 0}
    last = None
    rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    for post, truth in generate(7, 50_000, END):
        stats["n"] += 1
        stats["kinds"][truth.kind] += 1
        assert truth.post_id == f"{post.platform}:{post.native_id}"
        assert post.published_at.utcoffset() == timedelta(hours=8)
        if last is not None and post.published_at < last:
            stats["out_of_order"] += 1
        last = post.published_at
        if truth.district is not None and (truth.district not in streets or
                                           (truth.street and truth.street not in streets[truth.district])):
            stats["bad_place"] += 1
        if truth.problem_id:
            stats["posts"][truth.problem_id] += 1
            stats["platforms"][truth.problem_id].add(post.platform)
            stats["categories"].add(truth.category)
            if post.text in stats["texts"][truth.problem_id]:
                stats["copies"] += 1
            if truth.kind == "problem":
                stats["texts"][truth.problem_id].add(post.text)
            where = (truth.issue, truth.place, truth.spot, truth.district, truth.street, truth.category)
            if stats["where"].setdefault(truth.problem_id, where) != where:
                stats["mixed"] += 1
            ts = post.published_at.timestamp()
            first, last_ts = stats["span"].get(truth.problem_id, (ts, ts))
            stats["span"][truth.problem_id] = (min(first, ts), max(last_ts, ts))
        else:
            assert truth.category is None and not truth.relevant
        if post.reposted_native_id is not None:
            stats["reposts"] += 1
            if post.platform != "weibo" or post.reposted_native_id not in stats["weibo_seen"]:
                stats["bad_repost"] += 1
        if post.platform == "weibo":
            assert len(post.native_id) == 16 and post.native_id.isdigit()
            stats["weibo_seen"].add(post.native_id)
        else:
            assert post.title
    stats["rss_growth_mb"] = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - rss_before) / 1024
    return stats


def test_stream_is_ordered_and_memory_stays_small(stream_stats):
    assert stream_stats["n"] == 50_000
    assert stream_stats["out_of_order"] == 0
    assert stream_stats["rss_growth_mb"] < 100, stream_stats["rss_growth_mb"]


def test_generator_holds_only_open_problems():
    # tracemalloc is slow, so a smaller stream: the generator's own peak is about 0.5 MB for 10k
    # posts, while keeping the posts would take about 9 MB.
    World.load()
    tracemalloc.start()
    try:
        for _ in generate(7, 10_000, END):
            pass
        peak_mb = tracemalloc.get_traced_memory()[1] / 2**20
    finally:
        tracemalloc.stop()
    assert peak_mb < 4, peak_mb


def test_noise_share_and_kinds(stream_stats):
    kinds = stream_stats["kinds"]
    noise = sum(kinds[k] for k in ("ad", "gossip", "spam", "news", "chat", "trap"))
    assert 0.30 <= noise / stream_stats["n"] <= 0.50
    assert all(kinds[k] > 0 for k in ("problem", "repost", "quote", "ad", "gossip", "spam", "news",
                                      "chat", "trap"))


def test_problems_repeat_across_platforms(stream_stats):
    counts = stream_stats["posts"]
    assert 50_000 / 10 <= len(counts) <= 50_000 / 6   # about n/8 problems
    assert sum(c >= 2 for c in counts.values()) / len(counts) > 0.97
    assert max(counts.values()) <= 8
    multi = sum(len(p) >= 2 for p in stream_stats["platforms"].values())
    assert multi / len(counts) > 0.8
    assert stream_stats["categories"] == set(CATEGORIES.values())
    # Some cross-posted copies, but repeated posts are mostly different wordings.
    problem_posts = stream_stats["kinds"]["problem"]
    assert 0.03 < stream_stats["copies"] / problem_posts < 0.25


def test_truth_places_exist_and_reposts_point_back(stream_stats):
    assert stream_stats["bad_place"] == 0
    assert stream_stats["reposts"] > 0 and stream_stats["bad_repost"] == 0


_ISSUE_TYPE = {i.key: ptype for ptype, issues in T.ISSUES.items() for i in issues}
_UNDO = {**{v: k for k, v in T.TRADITIONAL.items()}, **{v: k for k, v in T.HALF_WIDTH.items()},
         **{v: k for k, v in T.FULL_WIDTH_DIGITS.items()}}


def _overlapping(span: dict, groups: dict) -> list[tuple[str, str]]:
    """Pairs of problems of one group whose post spans come within BLOCK_SECONDS."""
    out = []
    for pids in groups.values():
        pids.sort(key=lambda p: span[p])
        end, last = None, None
        for pid in pids:
            if end is not None and span[pid][0] < end + BLOCK_SECONDS:
                out.append((last, pid))
            if end is None or span[pid][1] > end:
                end, last = span[pid][1], pid
    return out


def test_each_problem_is_one_issue_at_one_place():
    """Every post of a problem tells its one issue at its one place: the truth never changes
    within a problem, the texts use that issue's wording and no other issue's, and at most one
    post of a long problem names only the street."""
    gz = World.load()
    streets = {s.street: {s.street, s.street_alias} for s in gz.streets}
    places = {p.place: p for p in gz.places}
    where, texts, n_posts = {}, defaultdict(list), Counter()
    for post, truth in generate(11, 6000, END):
        if not truth.problem_id:
            assert truth.issue is None and truth.place is None
            continue
        key = (truth.issue, truth.place, truth.spot, truth.district, truth.street, truth.category)
        assert where.setdefault(truth.problem_id, key) == key
        n_posts[truth.problem_id] += 1
        if truth.kind == "problem":
            texts[truth.problem_id].append(post.text.translate(_UNDO))
    assert len(where) > 500
    own = street_only = 0
    for pid, (issue, place, spot, district, street, category) in where.items():
        p = places[place]
        assert (p.district, p.street) == (district, street) and spot is None
        ptype = _ISSUE_TYPE[issue]
        assert CATEGORIES[ptype] == category
        unnamed = 0
        for text in texts[pid]:
            said = {i.key for i in T.ISSUES[ptype] if any(w in text for w in i.whats)}
            assert said <= {issue}, (pid, issue, text)
            own += issue in said
            if place not in text:
                unnamed += 1
                assert street and any(s in text for s in streets[street]), (pid, place, text)
        assert unnamed <= (1 if n_posts[pid] >= STREET_ONLY_MIN_POSTS else 0), (pid, texts[pid])
        street_only += unnamed
    n_texts = sum(len(t) for t in texts.values())
    assert own / n_texts > 0.8
    assert 0 < street_only / n_texts < 0.1


def test_no_two_open_problems_of_one_issue_at_one_place():
    """Two problems with the same issue at the same place never come within BLOCK_SECONDS; at a
    corpus this size the same issue in the same street is (nearly) always avoided too."""
    span, where = {}, {}
    for post, truth in generate(5, 5000, END):
        if truth.problem_id:
            ts = post.published_at.timestamp()
            first, last = span.get(truth.problem_id, (ts, ts))
            span[truth.problem_id] = (min(first, ts), max(last, ts))
            where[truth.problem_id] = truth
    by_place, by_street = defaultdict(list), defaultdict(list)
    for pid, t in where.items():
        by_place[(t.issue, t.place)].append(pid)
        if t.street:
            by_street[(t.issue, t.district, t.street)].append(pid)
    assert _overlapping(span, by_place) == []
    assert len(_overlapping(span, by_street)) <= 0.02 * len(where)


def test_dense_corpus_never_repeats_an_open_problem(stream_stats):
    """When a corpus outgrows the gazetteer (50k posts in 14 days), a problem whose issue has no
    free place gets a finer place (a building, exit or house number) that is still unique."""
    where, span = stream_stats["where"], stream_stats["span"]
    assert stream_stats["mixed"] == 0
    kinds = {p.place: p.kind for p in World.load().places}
    assert all(w[2] is None or w[2] in T.SUB_SPOT[kinds[w[1]]] for w in where.values())
    # (issue, place, finer place or None): no two open together, so no two plain ones either
    by_fine = defaultdict(list)
    for pid, w in where.items():
        by_fine[(w[0], w[1], w[2])].append(pid)
    assert _overlapping(span, by_fine) == []
    assert sum(w[2] is not None for w in where.values()) < 0.3 * len(where)


def test_naive_end_means_shanghai_and_posts_stay_in_window():
    naive = datetime(2026, 11, 21, 20, 0)
    posts = [p for p, _ in generate(1, 300, naive, days=2)]
    assert posts == [p for p, _ in generate(1, 300, END, days=2)]
    assert all(END - timedelta(days=2) < p.published_at <= END for p in posts)


# --- server --------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def corpus():
    return [p for p, _ in generate(3, 400, END)]


@pytest.fixture
def sim(corpus):
    with SimulatorServer(corpus, now=END) as server:
        yield server


def _weibo(sim, page: int) -> dict:
    status, body, headers = _fetch(f"{sim.platform_base_url('weibo')}/api/container/getIndex"
                                   f"?containerid=102803&page={page}")
    assert status == 200 and headers["Content-Type"].startswith("application/json")
    return json.loads(body)


def test_healthz(sim):
    assert _fetch(sim.base_url + "/healthz")[:2] == (200, b"ok")
    assert _fetch(sim.base_url + "/nope")[0] == 404


def test_weibo_pages_newest_first_until_ok0(sim, corpus):
    want = {p.native_id: p for p in corpus if p.platform == "weibo"}
    seen, page, times = [], 1, []
    while True:
        doc = _weibo(sim, page)
        if doc["ok"] == 0:
            assert doc == {"ok": 0, "msg": "这里还没有内容", "data": {"cards": []}}
            break
        info, cards = doc["data"]["cardlistInfo"], doc["data"]["cards"]
        assert info["containerid"] == "102803" and info["total"] == len(want)
        assert 0 < len(cards) <= 20
        for card in cards:
            m = card["mblog"]
            assert card["card_type"] == 9 and m["id"] == m["mid"]
            seen.append(m["id"])
            times.append(datetime.strptime(m["created_at"], "%a %b %d %H:%M:%S %z %Y"))
            post = want[m["id"]]
            assert m["user"]["screen_name"] == post.author_name and isinstance(m["user"]["id"], int)
            if post.reposted_native_id:
                assert m["retweeted_status"]["id"] == post.reposted_native_id
                assert m["retweeted_status"]["user"]["screen_name"]
            if post.media:
                assert m["pics"][0]["large"]["url"] == post.media[0]
            if "#" in post.text:
                assert 'class="surl-text">#' in m["text"]
        assert info["page"] == (page + 1 if len(seen) < len(want) else None)
        page += 1
    assert sorted(seen) == sorted(want) and times == sorted(times, reverse=True)
    assert _weibo(sim, 1)["ok"] == 1
    other = _fetch(f"{sim.platform_base_url('weibo')}/api/container/getIndex?containerid=999&page=1")
    assert json.loads(other[1])["ok"] == 0


def test_forum_list_and_thread_pages(sim, corpus):
    want = {p.native_id: p for p in corpus if p.platform == "jiazaishenzhen"}
    base = sim.platform_base_url("jiazaishenzhen")
    page, seen = 1, []
    while True:
        status, body, _ = _fetch(f"{base}/forum-1-{page}.html")
        if status == 404:
            break
        text = body.decode("utf-8")
        ids = [t for t in want if f'id="normalthread_{t}"' in text]
        assert 0 < len(ids) <= 20
        seen += ids
        assert ('class="nxt"' in text) == (len(seen) < len(want))
        assert f"<strong>{page}</strong>" in text
        page += 1
    assert sorted(seen) == sorted(want) and page == -(-len(want) // 20) + 1
    tid, post = next(iter(want.items()))
    status, body, _ = _fetch(f"{base}/thread-{tid}-1-1.html")
    text = body.decode("utf-8")
    assert status == 200 and '<span id="thread_subject">' in text
    assert 'id="postmessage_' in text and 'id="authorposton' in text and f'id="recommendv_add_{tid}"' in text
    local = post.published_at.astimezone(SHANGHAI).strftime("%Y-%m-%d %H:%M")
    assert f"发表于 {local}" in text
    assert _fetch(f"{base}/thread-999-1-1.html")[0] == 404
    assert _fetch(f"{base}/forum-2-1.html")[0] == 404


def test_rss_pages_parse_and_end_with_404(sim, corpus):
    want = {p.native_id for p in corpus if p.platform == "szrss"}
    base = sim.platform_base_url("szrss")
    page, seen = 1, []
    while True:
        status, body, _ = _fetch(f"{base}/szrss.xml?paged={page}")
        if status == 404:
            break
        channel = ET.fromstring(body).find("channel")
        items = channel.findall("item")
        assert 0 < len(items) <= 20
        for item in items:
            seen.append(item.findtext("guid"))
            assert item.findtext("pubDate").endswith("+0800")
            assert item.findtext("description").startswith("<p>")
            assert item.findtext("link").startswith(sim.base_url + "/rss/item/")
        page += 1
    assert sorted(seen) == sorted(want) and page > 2


def test_now_hides_future_posts(corpus):
    early = END - timedelta(days=3)
    with SimulatorServer(corpus, now=early) as sim:
        before = _weibo(sim, 1)["data"]["cardlistInfo"]["total"]
        assert before == sum(p.platform == "weibo" and p.published_at <= early for p in corpus)
        newest = max((p for p in corpus if p.platform == "jiazaishenzhen" and p.published_at > early),
                     key=lambda p: p.published_at)
        base = sim.platform_base_url("jiazaishenzhen")
        assert _fetch(f"{base}/thread-{newest.native_id}-1-1.html")[0] == 404
        sim.set_now(END)
        assert _weibo(sim, 1)["data"]["cardlistInfo"]["total"] > before
        assert _fetch(f"{base}/thread-{newest.native_id}-1-1.html")[0] == 200


@pytest.mark.parametrize("platform,url", [
    ("weibo", "/weibo/api/container/getIndex?containerid=102803&page=1"),
    ("jiazaishenzhen", "/jzsz/forum-1-1.html"),
    ("szrss", "/rss/szrss.xml?paged=1"),
])
def test_faults(sim, platform, url):
    def get():
        return _fetch(sim.base_url + url)

    sim.set_fault(platform, Fault("http500"))
    assert get()[0] == 500
    sim.set_fault(platform, Fault("http418"))
    assert get()[0] == 418
    sim.set_fault(platform, Fault("http429"))
    status, _, headers = get()
    assert status == 429 and headers["Retry-After"] == "1"
    sim.set_fault(platform, Fault("captcha"))
    status, body, _ = get()
    assert status == 200 and "滑块验证" in body.decode() and b"captcha" in body
    sim.set_fault(platform, Fault("login_wall"))
    status, _, headers = get()
    assert status == 302 and "/login" in headers["Location"]
    assert "登录" in _fetch(headers["Location"])[1].decode()
    sim.set_fault(platform, Fault("malformed"))
    status, body, _ = get()
    assert status == 200
    with pytest.raises(Exception):
        if platform == "weibo":
            json.loads(body)
        else:
            ET.fromstring(body) if platform == "szrss" else body.decode("utf-8")
    sim.set_fault(platform, Fault("empty"))
    status, body, _ = get()
    assert status == 200
    if platform == "weibo":
        assert json.loads(body)["data"]["cards"] == []
    elif platform == "szrss":
        assert ET.fromstring(body).find("channel").findall("item") == []
    else:
        assert b"normalthread_" not in body and b"nxt" not in body
    # Only the listed pages misbehave; clearing the fault restores the platform.
    sim.set_fault(platform, Fault("http500", pages=frozenset({2})))
    assert get()[0] == 200
    sim.set_fault(platform, None)
    assert get()[0] == 200
    assert (url, 200) in sim.request_log


def test_fault_validation_and_unknown_platform(corpus):
    with pytest.raises(ValueError):
        Fault("explode")
    with pytest.raises(KeyError):
        SimulatorServer(corpus, now=END).set_fault("myspace", Fault("http500"))
