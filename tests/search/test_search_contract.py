"""The search contract (core.search.base), run against the embedded and Elasticsearch backends.

Behaviour only, never scores; every read follows a refresh."""
from __future__ import annotations

from datetime import timedelta

import numpy as np
import pytest

from core.models import EnrichedPost, Enrichment, Lead, LeadEvent, LeadStatus, PriorityParts
from core.search import PostQuery, SearchError, SearchIndex
from core.search.models import encode_cursor
from tests.conftest import T0, make_post

NANSHAN, FUTIAN = "南山区", "福田区"
ENV, TRAFFIC = "生态环境", "交通运输"


def ep(native_id: str, text: str, *, at=T0, district=NANSHAN, category=ENV, relevant=True,
       title=None, lat=None, lon=None, platform="weibo") -> EnrichedPost:
    post = make_post(native_id, text, at=at, title=title, platform=platform)
    return EnrichedPost(post, Enrichment(post.id, text, relevant, 0.9 if relevant else 0.1, category, district,
                                         None, lat=lat, lon=lon))


def ids(page) -> list[str]:
    return [h.post_id for h in page.hits]


def seed(index: SearchIndex, items: list[EnrichedPost]) -> None:
    assert index.index_posts(items) == len({i.id for i in items})  # one per post id
    index.refresh()


def test_is_a_search_index(search_backend):
    assert isinstance(search_backend, SearchIndex)


def test_two_words_find_posts_holding_both(search_backend):
    seed(search_backend, [ep("1", "小区楼下噪音扰民严重"), ep("2", "晚上噪音很大，有人扰民"),
                          ep("3", "噪音很大"), ep("4", "有人扰民"), ep("5", "停车难")])
    page = search_backend.search_posts(PostQuery("噪音 扰民"))
    assert sorted(ids(page)) == ["weibo:1", "weibo:2"]
    assert page.total == 2 and page.next_after is None


def test_quoted_phrase_matches_only_the_exact_phrase(search_backend):
    seed(search_backend, [ep("1", "小区楼下噪音扰民严重"), ep("2", "晚上噪音很大，有人扰民")])
    assert ids(search_backend.search_posts(PostQuery('"噪音扰民"'))) == ["weibo:1"]
    # Chinese writes no spaces: a quoted "噪音 扰民" is the same phrase
    assert ids(search_backend.search_posts(PostQuery('"噪音 扰民"'))) == ["weibo:1"]


def test_short_and_long_terms_and_title(search_backend):
    seed(search_backend, [ep("1", "这里停车很难", title="车位"), ep("2", "施工噪音", title="工地夜间施工")])
    assert ids(search_backend.search_posts(PostQuery("停车"))) == ["weibo:1"]
    assert ids(search_backend.search_posts(PostQuery("夜间施工"))) == ["weibo:2"]  # in the title only
    assert ids(search_backend.search_posts(PostQuery("车位 停车"))) == ["weibo:1"]  # title and text
    assert ids(search_backend.search_posts(PostQuery("停车场"))) == []


def test_addresses_mixing_letters_digits_and_chinese(search_backend):
    # Elasticsearch's cjk analysis alone drops "a" (an English stop word) and splits at the
    # script boundary: these were missed there while the embedded backend found them.
    seed(search_backend, [ep("1", "A市教育局门口的路灯坏了"), ep("2", "南山区3号楼电梯停运"),
                          ep("3", "G2栋楼下垃圾堆积"), ep("4", "科技园地铁站Ａ出口积水"), ep("5", "市民反映路灯坏了")])
    assert ids(search_backend.search_posts(PostQuery("A市"))) == ["weibo:1"]
    assert ids(search_backend.search_posts(PostQuery("A市 路灯"))) == ["weibo:1"]
    assert ids(search_backend.search_posts(PostQuery("3号楼"))) == ["weibo:2"]
    assert ids(search_backend.search_posts(PostQuery("g2栋"))) == ["weibo:3"]  # letters in any case
    assert ids(search_backend.search_posts(PostQuery("A出口"))) == ["weibo:4"]  # full-width Ａ folded
    assert sorted(ids(search_backend.search_posts(PostQuery("市")))) == ["weibo:1", "weibo:5"]  # one character
    hit = search_backend.search_posts(PostQuery("3号楼")).hits[0]
    assert any("<em>" in h and "3号" in h for h in hit.highlights)


def test_highlights_mark_the_match(search_backend):
    seed(search_backend, [ep("1", "小区楼下噪音扰民严重，<b>请处理</b>")])
    hit = search_backend.search_posts(PostQuery("噪音")).hits[0]
    assert any("<em>噪音</em>" in h for h in hit.highlights)
    assert all("<b>" not in h for h in hit.highlights)  # the text around a match is escaped
    assert hit.snippet.startswith("小区楼下") and hit.district == NANSHAN and hit.category == ENV


def test_filters_narrow(search_backend):
    seed(search_backend, [
        ep("1", "噪音扰民", district=NANSHAN, category=ENV, at=T0),
        ep("2", "噪音扰民", district=FUTIAN, category=ENV, at=T0),
        ep("3", "噪音扰民", district=NANSHAN, category=TRAFFIC, at=T0 - timedelta(days=3)),
        ep("4", "噪音扰民", district=NANSHAN, category=ENV, at=T0 - timedelta(days=10), relevant=False),
        ep("5", "噪音扰民", district=NANSHAN, category=ENV, platform="douyin", at=T0),
    ])
    s = search_backend.search_posts
    assert sorted(ids(s(PostQuery("噪音", district=FUTIAN)))) == ["weibo:2"]
    assert sorted(ids(s(PostQuery("噪音", category=TRAFFIC)))) == ["weibo:3"]
    assert sorted(ids(s(PostQuery("噪音", platform="douyin")))) == ["douyin:5"]
    assert sorted(ids(s(PostQuery("噪音", since=T0 - timedelta(days=5))))) == ["douyin:5", "weibo:1", "weibo:2",
                                                                               "weibo:3"]
    assert sorted(ids(s(PostQuery("噪音", until=T0)))) == ["weibo:3", "weibo:4"]  # until is exclusive
    assert "weibo:4" not in ids(s(PostQuery("噪音", relevant_only=True)))
    # filters alone, without text, are a valid query
    assert sorted(ids(s(PostQuery(district=NANSHAN, category=ENV, relevant_only=True)))) == ["douyin:5", "weibo:1"]
    # an analyst's scope: any of their districts; a post with no district is in no scope
    assert sorted(ids(s(PostQuery("噪音", districts=(FUTIAN,))))) == ["weibo:2"]
    assert len(ids(s(PostQuery("噪音", districts=(FUTIAN, NANSHAN))))) == 5
    with pytest.raises(SearchError, match="districts"):
        PostQuery("噪音", districts=[FUTIAN])
    with pytest.raises(SearchError, match="empty query"):
        PostQuery(districts=(FUTIAN,))  # the scope is not a query of its own


def test_paging_returns_each_hit_once_in_order(search_backend):
    # 25 matches, five of them published at the same time: order falls back to the post id
    items = [ep(f"{n:02d}", f"第{n}处路面塌陷", at=T0 - timedelta(hours=n if n >= 5 else 0)) for n in range(25)]
    seed(search_backend, items + [ep("x", "停车难")])
    seen, after, pages = [], None, 0
    while True:
        page = search_backend.search_posts(PostQuery("路面塌陷", size=10, after=after))
        pages += 1
        assert page.total == 25
        seen += page.hits
        after = page.next_after
        if after is None:
            break
    assert pages == 3 and len(seen) == 25 and len({h.post_id for h in seen}) == 25
    keys = [(-h.published_at.timestamp(), h.post_id) for h in seen]
    assert keys == sorted(keys)


def test_delete_posts_removes_from_results_and_count(search_backend):
    seed(search_backend, [ep("1", "噪音扰民"), ep("2", "噪音扰民"), ep("3", "停车难")])
    assert search_backend.count_posts() == 3
    assert search_backend.delete_posts(["weibo:1", "weibo:missing"]) == 1
    search_backend.refresh()
    assert ids(search_backend.search_posts(PostQuery("噪音"))) == ["weibo:2"]
    assert search_backend.count_posts() == 2


def test_purge_before_drops_old_posts_only(search_backend):
    seed(search_backend, [ep("old", "噪音", at=T0 - timedelta(days=70)),  # two months back: a whole index
                          ep("edge", "噪音", at=T0 - timedelta(days=1)),  # same month as the cutoff
                          ep("keep", "噪音", at=T0), ep("late", "噪音", at=T0 + timedelta(days=20))])
    assert search_backend.purge_before(T0 - timedelta(hours=1)) == 2
    search_backend.refresh()
    assert sorted(ids(search_backend.search_posts(PostQuery("噪音")))) == ["weibo:keep", "weibo:late"]
    assert search_backend.count_posts() == 2


def test_trends_count_relevant_posts_per_day_district_category(search_backend):
    day1, day2 = T0, T0 + timedelta(days=1)
    items = [ep("1", "a", at=day1), ep("2", "b", at=day1 + timedelta(hours=1)),
             ep("3", "c", at=day1, district=FUTIAN), ep("4", "d", at=day2, category=TRAFFIC),
             ep("5", "e", at=day2, relevant=False), ep("6", "f", at=day2, district=None),
             ep("7", "g", at=T0 + timedelta(days=9))]  # outside the window
    seed(search_backend, items)
    got = {(b.day, b.district, b.category): b.count
           for b in search_backend.trends(T0 - timedelta(hours=12), T0 + timedelta(days=5))}
    assert got == {(day1.date(), NANSHAN, ENV): 2, (day1.date(), FUTIAN, ENV): 1,
                   (day2.date(), NANSHAN, TRAFFIC): 1, (day2.date(), None, ENV): 1}


def test_count_relevant_posts_per_period_as_the_store_counts_them(search_backend, search_store):
    """What spikes read: per (category, district), relevant posts in each [start, end) of
    overlapping periods; no category or no district, irrelevant, or outside every period: not
    counted. The index and the store answer alike."""
    hour = timedelta(hours=1)
    items = [ep("1", "a", at=T0 - 30 * timedelta(minutes=1)), ep("2", "b", at=T0 - hour),  # start: inclusive
             ep("3", "c", at=T0),  # end: exclusive
             ep("4", "d", at=T0 - 3 * hour), ep("5", "e", at=T0 - 3 * hour, district=FUTIAN, category=TRAFFIC),
             ep("6", "f", at=T0 - 10 * hour, relevant=False), ep("7", "g", at=T0 - 2 * hour, district=None),
             ep("8", "h", at=T0 - 2 * hour, category=None), ep("9", "i", at=T0 - 30 * hour)]
    search_store.posts.upsert([i.post for i in items])
    search_store.posts.save_enrichments([(i.post, i.enrichment) for i in items])
    seed(search_backend, items)
    periods = [(T0 - hour, T0), (T0 - 13 * hour, T0 - hour), (T0 - 24 * hour, T0)]
    expected = {(ENV, NANSHAN): [2, 1, 3], (TRAFFIC, FUTIAN): [0, 1, 1]}
    assert search_backend.count_relevant_posts(periods) == expected
    assert search_store.reports.count_relevant_posts(periods) == expected
    assert search_backend.count_relevant_posts([]) == {}
    assert search_backend.count_relevant_posts([(T0 + 100 * hour, T0 + 101 * hour)]) == {}


def _lead(store, lead_id: str, title: str, members: list[EnrichedPost], *, priority=0.5,
          keywords=(), district=NANSHAN) -> Lead:
    store.posts.upsert([m.post for m in members])
    store.posts.save_enrichments([(m.post, m.enrichment) for m in members])
    lead = Lead(id=lead_id, status=LeadStatus.NEW, title=title, category=ENV, district=district, street=None,
                unit=None, urgent=False, priority=priority, priority_parts=PriorityParts(),
                post_count=len(members), platform_count=1, first_seen=T0, last_seen=T0, keywords=tuple(keywords))
    store.leads.create(lead, [(m.id, 1.0) for m in members], LeadEvent(lead_id, "created", "test", T0, {}))
    return lead


def test_leads_near_and_search_leads(search_backend, search_store):
    # The lead's point is the mean of its posts' points; L3's posts name no place.
    near = _lead(search_store, "L1", "科技园路面塌陷", [ep("1", "a", lat=22.5400, lon=113.9500),
                                                      ep("2", "b", lat=22.5410, lon=113.9510)], priority=0.9)
    far = _lead(search_store, "L2", "蛇口港噪音扰民", [ep("3", "c", lat=22.4800, lon=113.9100)],
                keywords=("噪音", "夜间施工"))
    nowhere = _lead(search_store, "L3", "路面塌陷无定位", [ep("4", "d")], priority=0.1)
    assert search_backend.index_leads([near, far, nowhere]) == 3
    search_backend.refresh()
    hits = search_backend.leads_near(22.5405, 113.9505, 500)
    assert [h.lead_id for h in hits] == ["L1"]
    assert hits[0].distance_m is not None and hits[0].distance_m < 100
    assert [h.lead_id for h in search_backend.leads_near(22.5405, 113.9505, 20_000)] == ["L1", "L2"]
    assert [h.lead_id for h in search_backend.search_leads("路面塌陷")] == ["L1", "L3"]  # priority first
    assert [h.lead_id for h in search_backend.search_leads("夜间施工")] == ["L2"]  # by keyword
    assert search_backend.search_leads("垃圾") == []


def test_candidate_leads_by_centroid(search_backend, search_store):
    a = _lead(search_store, "L1", "甲", [ep("1", "a")])
    b = _lead(search_store, "L2", "乙", [ep("2", "b")])
    search_backend.index_leads([a, b], centroids={"L1": np.array([1, 0, 0, 0]), "L2": np.array([0, 1, 0, 0])})
    search_backend.refresh()
    hits = search_backend.candidate_leads(np.array([0.9, 0.1, 0, 0]), district=NANSHAN, k=1)
    assert [h.lead_id for h in hits] == ["L1"] and hits[0].score > 0.9
    assert search_backend.candidate_leads(np.array([1, 0, 0, 0]), district=FUTIAN) == []


def test_a_merged_lead_leaves_the_index(search_backend, search_store):
    from dataclasses import replace
    a = _lead(search_store, "L1", "路面塌陷甲", [ep("1", "a", lat=22.54, lon=113.95)])
    b = _lead(search_store, "L2", "路面塌陷乙", [ep("2", "b", lat=22.54, lon=113.95)])
    centroids = {"L1": np.array([1, 0, 0, 0]), "L2": np.array([0.9, 0.1, 0, 0])}
    search_backend.index_leads([a, b], centroids=centroids)
    search_backend.refresh()
    assert {h.lead_id for h in search_backend.search_leads("路面塌陷")} == {"L1", "L2"}
    merged = replace(b, status=LeadStatus.MERGED, merged_into="L1")
    assert search_backend.index_leads([a, merged], centroids=centroids) == 2
    search_backend.refresh()
    assert [h.lead_id for h in search_backend.search_leads("路面塌陷")] == ["L1"]
    assert [h.lead_id for h in search_backend.candidate_leads(np.array([0.9, 0.1, 0, 0]), k=5)] == ["L1"]
    assert [h.lead_id for h in search_backend.leads_near(22.54, 113.95, 500)] == ["L1"]
    # removing one that was never indexed (merged before its first index run) is no error
    never = replace(_lead(search_store, "L3", "丙", [ep("3", "c")]), status=LeadStatus.MERGED)
    assert search_backend.index_leads([never]) == 1


def test_candidate_leads_for_a_batch_of_posts(search_backend, search_store):
    a = _lead(search_store, "L1", "甲", [ep("1", "a")])
    b = _lead(search_store, "L2", "乙", [ep("2", "b")])
    search_backend.index_leads([a, b], centroids={"L1": np.array([1, 0, 0, 0]), "L2": np.array([0, 1, 0, 0])})
    search_backend.refresh()
    queries = np.array([[0.9, 0.1, 0, 0], [0.1, 0.9, 0, 0], [1, 0, 0, 0]])
    many = search_backend.candidate_leads_many(queries, [NANSHAN, None, FUTIAN], k=1)
    assert [[h.lead_id for h in hits] for hits in many] == [["L1"], ["L2"], []]
    # the same answers as one query at a time
    assert [h.lead_id for h in many[0]] == [h.lead_id for h in search_backend.candidate_leads(
        queries[0], district=NANSHAN, k=1)]
    later = a.last_seen + timedelta(days=1)
    assert search_backend.candidate_leads_many(queries[:1], [None], since=later) == [[]]


def test_a_large_batch_in_several_districts_gets_what_one_query_at_a_time_gets(search_backend, search_store):
    # More posts than the embedded index scores at once (core.search.embedded.KNN_CHUNK) and
    # than one Elasticsearch msearch holds, in two districts and none.
    rng = np.random.default_rng(3)
    centroids, leads = {}, []
    for n in range(40):
        lead_id = f"L{n:02d}"
        district = NANSHAN if n % 3 else FUTIAN
        leads.append(_lead(search_store, lead_id, f"乙{n}", [ep(str(n), f"t{n}", district=district)], district=district))
        centroids[lead_id] = rng.normal(size=4)
    search_backend.index_leads(leads, centroids=centroids)
    search_backend.refresh()
    queries = rng.normal(size=(530, 4))
    districts = [(NANSHAN, FUTIAN, None)[i % 3] for i in range(len(queries))]
    many = search_backend.candidate_leads_many(queries, districts, k=3)
    assert len(many) == len(queries) and all(len(hits) == 3 for hits in many)
    lead_district = {lead.id: lead.district for lead in leads}
    for i in [*range(0, 530, 37), 510, 511, 512, 513, 529]:
        one = search_backend.candidate_leads(queries[i], district=districts[i], k=3)
        assert [h.lead_id for h in many[i]] == [h.lead_id for h in one], i
        assert districts[i] is None or {lead_district[h.lead_id] for h in many[i]} == {districts[i]}


def test_reindexing_a_post_does_not_duplicate_it(search_backend):
    seed(search_backend, [ep("1", "噪音扰民")])
    seed(search_backend, [ep("1", "噪音扰民，又来了"), ep("1", "噪音扰民，第三次")])
    page = search_backend.search_posts(PostQuery("噪音"))
    assert ids(page) == ["weibo:1"] and page.total == 1 and search_backend.count_posts() == 1
    assert "第三次" in page.hits[0].snippet  # the last copy won
    assert ids(search_backend.search_posts(PostQuery("又来了"))) == []  # the old text is gone


@pytest.mark.parametrize("kwargs, message", [
    ({"text": "  "}, "empty query"),
    ({"text": ""}, "empty query"),
    ({"text": "噪" * 201}, "at most 200"),
    ({"text": "噪音", "size": 0}, "size must be between 1 and 100"),
    ({"text": "噪音", "size": 1000}, "size must be between 1 and 100"),
    ({"text": "噪音", "after": "garbage!!"}, "malformed cursor"),
    ({"text": "噪音", "after": "W10"}, "malformed cursor"),  # valid base64 of "[]"
])
def test_invalid_queries_are_refused_clearly(kwargs, message):
    with pytest.raises(SearchError, match=message):
        PostQuery(**kwargs)


def test_invalid_lead_queries_are_refused(search_backend):
    with pytest.raises(SearchError, match="empty query"):
        search_backend.search_leads(" ")
    with pytest.raises(SearchError, match="size"):
        search_backend.search_leads("噪音", size=0)
    with pytest.raises(SearchError, match="radius"):
        search_backend.leads_near(22.5, 113.9, 0)


@pytest.mark.parametrize("text", ['" * OR NEAR( \' ;', '噪音" OR "1"="1', "*", "'; DROP TABLE search_posts; --",
                                  "NEAR(噪音 扰民)", "噪音 AND NOT", "title:噪音", "%_%"])
def test_hostile_text_neither_errors_nor_matches_everything(search_backend, text):
    seed(search_backend, [ep("1", "小区楼下噪音扰民严重"), ep("2", "停车难"), ep("3", "路灯坏了")])
    page = search_backend.search_posts(PostQuery(text))
    assert page.total < 3
    assert search_backend.count_posts() == 3


def test_a_cursor_from_another_query_still_pages_safely(search_backend):
    seed(search_backend, [ep(str(n), "噪音", at=T0 - timedelta(hours=n)) for n in range(5)])
    after = encode_cursor(T0 - timedelta(hours=2), "weibo:2")
    assert ids(search_backend.search_posts(PostQuery("噪音", after=after))) == ["weibo:3", "weibo:4"]
