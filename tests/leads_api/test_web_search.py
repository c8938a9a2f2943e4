"""The desk's search page over a real SQLite store and its embedded index: results with
highlights and lead links, filters, district scoping, cursor paging, escaping of hostile post
text, the empty form, and clear 422 / 503 pages."""
from __future__ import annotations

import html
import re
from datetime import datetime, timedelta, timezone

import pytest

from core.models import Enrichment
from core.search import SearchUnavailable
from leads_api.app import create_app
from leads_api.web.search import PAGE_SIZE, marked
from tests.conftest import make_post
from tests.leads_api.desk_fixtures import HOSTILE_TEXT, add_users, index, lead_id, seed
from tests.leads_api.test_web import login

NOW = datetime(2026, 3, 15, 4, 0, tzinfo=timezone.utc)  # 12:00 in Shenzhen: every seeded post is of 2026-03-15
LAMPS = 23  # loose posts about street lamps: more than one page
FAKE_MARKS = "<em>假</em>井盖&amp;<mark>x</mark>"  # markers typed in a post are text


def _loose(store, native_id: str, text: str, at: datetime, platform: str = "weibo", title: str | None = None) -> None:
    """A relevant 南山区 post in no lead."""
    post = make_post(native_id, text, platform=platform, at=at, title=title)
    store.posts.upsert([post])
    store.posts.save_enrichments([(post, Enrichment(post.id, text, True, 0.8, "城乡建设", "南山区", None,
                                                    text_hash=f"h{post.id}"))])


@pytest.fixture
def app(sqlite_store, config, monkeypatch):
    monkeypatch.delenv("ELASTICSEARCH_URL", raising=False)
    seed(sqlite_store, config, now=NOW)
    for n in range(LAMPS):
        _loose(sqlite_store, f"lamp{n:02d}", f"南山区第{n}号路灯不亮，晚上很黑",
               NOW - timedelta(hours=3, minutes=n))
    _loose(sqlite_store, "fake", FAKE_MARKS, NOW - timedelta(hours=4), platform="douyin")
    _loose(sqlite_store, "notice", "桃园路今晚施工，请绕行", NOW - timedelta(hours=5), platform="szrss",
           title="<b>维修</b>通知")
    add_users(sqlite_store)
    index(sqlite_store)
    return create_app(sqlite_store, config, secret="test-secret")


def hits(page: str) -> list[str]:
    return re.findall(r'<article class="post hit" data-post="([^"]+)"', page)


def next_link(page: str) -> str | None:
    m = re.search(r'<a href="([^"]+)" rel="next" id="next-page">', page)
    return html.unescape(m.group(1)) if m else None


def test_the_page_needs_a_login(app):
    from fastapi.testclient import TestClient
    resp = TestClient(app).get("/desk/search", params={"q": "井盖"}, follow_redirects=False)
    assert resp.status_code == 303
    assert resp.headers["location"] == "/login?next=%2Fdesk%2Fsearch%3Fq%3D%25E4%25BA%2595%25E7%259B%2596"


def test_the_empty_form_searches_nothing(app):
    nan = login(app, "nan_a")
    page = nan.get("/desk/search")
    assert page.status_code == 200
    assert 'href="/desk/search" class="on" aria-current="page">搜索</a>' in page.text  # the nav link
    assert 'id="search-form"' in page.text and 'id="hits"' not in page.text
    # the form sent with nothing in it: a hint, not an error
    page = nan.get("/desk/search", params={"q": "  ", "district": "", "since": ""})
    assert page.status_code == 200
    assert "请输入要搜索的词语，或至少选择一个筛选条件" in page.text and 'id="hits"' not in page.text
    # punctuation only is no word: it matches nothing, never everything
    page = nan.get("/desk/search", params={"q": "\" * ( ; --"})
    assert page.status_code == 200 and hits(page.text) == [] and "没有匹配的帖子" in page.text


def test_results_are_highlighted_newest_first_with_their_leads(app):
    page = login(app, "nan_a").get("/desk/search", params={"q": "科技园 垃圾"}).text
    # lead 4's post (40 minutes ago) before lead 3's (100 minutes ago)
    assert hits(page) == ["weibo:40", "weibo:30"]
    assert "本页 2 条 / 共 2 条" in page
    assert "<mark>科技园</mark>" in page and "<mark>垃圾</mark>" in page
    assert f'href="/desk/leads/{lead_id(4)}">线索 {lead_id(4)} →</a>' in page
    assert f'href="/desk/leads/{lead_id(3)}">线索 {lead_id(3)} →</a>' in page
    assert "微博" in page and "南山区 · 城市管理" in page
    assert "2026-03-15 11:20:00" in page  # published time, Beijing time
    # the leads whose titles hold both words, in the side panel
    side = page.split('id="lead-hits"', 1)[1]
    assert f"/desk/leads/{lead_id(3)}" in side and f"/desk/leads/{lead_id(4)}" in side
    assert f"/desk/leads/{lead_id(1)}" not in side
    # a post in no lead says so
    page = login(app, "nan_a").get("/desk/search", params={"q": "路灯 不亮"}).text
    assert "未归入线索" in page


def test_filters_narrow_the_results(app):
    nan = login(app, "nan_a")
    assert hits(nan.get("/desk/search", params={"q": "停水"}).text) == ["jiazaishenzhen:51", "weibo:50"]
    assert hits(nan.get("/desk/search", params={"q": "停水", "platform": "jiazaishenzhen"}).text) \
        == ["jiazaishenzhen:51"]
    assert hits(nan.get("/desk/search", params={"q": "停水", "category": "城市管理"}).text) == []
    # dates are Beijing days and the end date is included
    day = {"q": "停水", "since": "2026-03-15", "until": "2026-03-15"}
    assert len(hits(nan.get("/desk/search", params=day).text)) == 2
    assert hits(nan.get("/desk/search", params={**day, "until": "2026-03-14", "since": ""}).text) == []
    assert hits(nan.get("/desk/search", params={**day, "since": "2026-03-16", "until": ""}).text) == []
    # filters alone are a search: the start of each post, unmarked
    page = nan.get("/desk/search", params={"platform": "douyin"})
    assert page.status_code == 200 and "douyin:fake" in hits(page.text) and "<mark>" not in page.text
    # the chosen filters stay in the form
    page = nan.get("/desk/search", params={"q": "停水", "platform": "szrss", "relevant_only": "1"}).text
    assert '<option value="szrss" selected>' in page and 'name="relevant_only" value="1" checked' in page


def test_an_analyst_finds_only_their_districts(app):
    nan = login(app, "nan_a")
    page = nan.get("/desk/search", params={"q": "华强北"}).text
    assert hits(page) == [] and lead_id(9) not in page
    # naming the other district does not widen the search: the value is not offered, so dropped
    page = nan.get("/desk/search", params={"q": "停车", "district": "福田区"}).text
    assert hits(page) == [] and "华强北" not in page and '<option value="福田区"' not in page
    fu = login(app, "fu_a")
    page = fu.get("/desk/search", params={"q": "华强北 停车"}).text
    assert hits(page) == ["weibo:90"] and f'href="/desk/leads/{lead_id(9)}"' in page.split('id="lead-hits"')[1]
    assert hits(fu.get("/desk/search", params={"q": "井盖"}).text) == []
    assert hits(fu.get("/desk/search", params={"q": "井盖", "district": "南山区"}).text) == []


def test_paging_follows_the_next_link(app):
    nan = login(app, "nan_a")
    first = nan.get("/desk/search", params={"q": "路灯", "relevant_only": "1"}).text
    assert f"共 {LAMPS} 条" in first and len(hits(first)) == PAGE_SIZE
    link = next_link(first)
    assert link and link.startswith("/desk/search?") and "after=" in link and "relevant_only=1" in link
    second = nan.get(link).text
    assert len(hits(second)) == LAMPS - PAGE_SIZE and next_link(second) is None
    assert "回到第一页" in second
    assert sorted(hits(first) + hits(second)) == sorted(f"weibo:lamp{n:02d}" for n in range(LAMPS))


def test_hostile_post_text_is_escaped_and_only_matches_are_marked(app):
    nan = login(app, "nan_a")
    # matches inside the hostile markup are marked, the markup itself is text
    page = nan.get("/desk/search", params={"q": "script 井盖"}).text
    assert hits(page) == ["weibo:80"]
    assert "<script>alert(1)" not in page and "<img" not in page
    assert ("&lt;<mark>script</mark>&gt;alert(1)&lt;/<mark>script</mark>&gt;&lt;img src=x onerror=alert(1)&gt; "
            "南山区后海大道<mark>井盖</mark>不见了") in page
    page = nan.get("/desk/search", params={"q": "onerror"}).text
    assert '<span class="gap">…</span>&lt;/script&gt;&lt;img src=x <mark>onerror</mark>=alert(1)&gt;' in page
    assert "<script>alert(1)" not in page and "<img" not in page
    page = nan.get("/desk/search", params={"q": "井盖"}).text
    # markers written in a post are text, not markers
    assert "&lt;em&gt;假&lt;/em&gt;<mark>井盖</mark>&amp;amp;&lt;mark&gt;x&lt;/mark&gt;" in page
    assert page.count("<mark>") == page.count("</mark>") == 3
    # a search by filters only shows the plain start of the text, escaped too
    page = nan.get("/desk/search", params={"platform": "weibo", "district": "南山区"}).text
    assert "weibo:80" in hits(page) and "<script>alert(1)" not in page and "<img" not in page
    # the query itself is echoed into the form escaped
    page = nan.get("/desk/search", params={"q": '"><script>alert(2)</script>'}).text
    assert "<script>alert(2)" not in page and "&lt;script&gt;alert(2)" in page


def test_a_matching_title_is_the_marked_heading(app):
    page = login(app, "nan_a").get("/desk/search", params={"q": "维修"}).text
    assert hits(page) == ["szrss:notice"]
    assert '<h3 class="post-title">&lt;b&gt;<mark>维修</mark>&lt;/b&gt;通知</h3>' in page
    assert '<p class="post-text">桃园路今晚施工，请绕行</p>' in page  # the text did not match: its start
    assert page.count("<mark>") == 1


def test_highlights_are_trusted_for_their_markers_only():
    assert marked("a &lt;b&gt; <em>井盖</em> &amp;amp;") == "a &lt;b&gt; <mark>井盖</mark> &amp;amp;"
    # a fragment a backend forgot to escape still cannot carry markup
    assert marked(HOSTILE_TEXT.replace("井盖", "<em>井盖</em>")) == (
        "&lt;script&gt;alert(1)&lt;/script&gt;&lt;img src=x onerror=alert(1)&gt; "
        "南山区后海大道<mark>井盖</mark>不见了")
    assert marked("<em><script>x</script></em>") == "<mark>&lt;script&gt;x&lt;/script&gt;</mark>"


@pytest.mark.parametrize("params, status, fragments", [
    ({"q": "路灯", "after": "not-a-cursor"}, 422, ("搜索条件无效", "翻页链接已失效", "malformed cursor")),
    ({"q": "路" * 201}, 422, ("搜索条件无效", "最多 200 个字符", "at most 200")),
    ({"q": "路灯", "since": "2026-02-30"}, 422, ("日期无效", "开始日期「2026-02-30」不是有效日期")),
    ({"q": "路灯", "until": "15/03/2026"}, 422, ("结束日期「15/03/2026」不是有效日期",)),
    ({"q": "路灯", "since": "0001-01-01"}, 422, ("开始日期「0001-01-01」不是有效日期",)),
    ({"q": "路灯", "since": "2026-03-15", "until": "2026-03-01"}, 422,
     ("结束日期 2026-03-01 早于开始日期 2026-03-15",)),
])
def test_bad_input_gets_a_clear_page(app, params, status, fragments):
    resp = login(app, "nan_a").get("/desk/search", params=params)
    assert resp.status_code == status
    assert resp.headers["content-type"].startswith("text/html")
    for fragment in fragments:
        assert fragment in resp.text
    assert 'class="banner banner-error"' in resp.text and 'id="search-form"' in resp.text
    assert 'id="hits"' not in resp.text and "Traceback" not in resp.text


class Unavailable:
    """A search backend that cannot serve (as EmbeddedSearch refuses a PostgreSQL store)."""

    name = "unavailable"

    def search_posts(self, q):
        raise SearchUnavailable("the embedded search index needs a SQLite store, this one is postgresql: "
                                "search at scale needs ELASTICSEARCH_URL")

    search_leads = search_posts


def test_search_unavailable_is_a_503_page(app):
    nan = login(app, "nan_a")
    app.state.search = Unavailable()
    resp = nan.get("/desk/search", params={"q": "路灯"})
    assert resp.status_code == 503
    assert "搜索服务暂不可用" in resp.text and "ELASTICSEARCH_URL" in resp.text
    assert 'id="search-form"' in resp.text and "Traceback" not in resp.text
