"""Adapters on hand-made saved responses in the exact platform formats (tests/crawlers/fixtures)."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from core.config import PlatformConfig
from core.models import hash_author
from crawlers.adapters import (DetailAdapter, ParseContext, ParseError, UnknownAdapter, get_adapter,
                               item_key)
from crawlers.adapters.base import html_to_text, parse_count

FIX = Path(__file__).parent / "fixtures"
CN = timezone(timedelta(hours=8))
CTX = ParseContext(salt="s", crawled_at=datetime(2026, 11, 21, 12, 0, tzinfo=timezone.utc))


def platform(name: str, adapter: str, base: str) -> PlatformConfig:
    kind = {"weibo": "json_api", "discuz": "html", "rss": "rss"}[adapter]
    return PlatformConfig(name=name, title=name, kind=kind, adapter=adapter, base_url=base)


WEIBO = platform("weibo", "weibo", "http://sim/weibo")
BBS = platform("jiazaishenzhen", "discuz", "http://sim/jzsz")
RSS = platform("szrss", "rss", "http://sim/rss")


def body(name: str) -> bytes:
    return (FIX / name).read_bytes()


def test_registry_names_unknown_adapter():
    assert get_adapter("weibo").start_url(WEIBO, "102803", 2) == \
        "http://sim/weibo/api/container/getIndex?containerid=102803&page=2"
    with pytest.raises(UnknownAdapter, match="no adapter named 'tiktok'.*weibo"):
        get_adapter("tiktok")


@pytest.mark.parametrize("raw,expected", [
    (5, 5), ("17", 17), ("1.2万", 12000), ("10w+", 100000), ("100万+", 1000000),
    ("1,024", 1024), (None, 0), ("", 0), ("3亿", 300000000)])
def test_counts(raw, expected):
    assert parse_count(raw, "x") == expected


def test_count_garbage_is_a_parse_error():
    with pytest.raises(ParseError, match="likes: expected a count"):
        parse_count("很多", "likes")


def test_html_to_text_keeps_tags_text_and_breaks_lines():
    assert html_to_text("<a href='/n/x'>@x</a> hi&amp;<span>#深圳#</span><br />next&nbsp;line") == \
        "@x hi&#深圳#\nnext line"


def test_weibo_page_with_repost_and_display_counts():
    page = get_adapter("weibo").parse(body("weibo_page1.json"), WEIBO.base_url + "/api/container/getIndex?containerid=102803&page=1", WEIBO, CTX)
    by_id = {p.id: p for p in page.posts}
    assert set(by_id) == {"weibo:5001", "weibo:5002", "weibo:4001"}
    first = by_id["weibo:5001"]
    assert first.text == "@深圳交警 南山区科技园路口的红绿灯坏了&没人管 #深圳#\n已经三天了"
    assert first.published_at == datetime(2026, 11, 21, 10, 12, tzinfo=CN)
    assert first.engagement.comments == 12000 and first.engagement.likes == 100000
    assert first.url == "https://m.weibo.cn/detail/5001"
    assert first.geotag == "广东"
    assert first.media == ("https://wx1.sinaimg.cn/large/p1.jpg",)
    assert first.author_hash == hash_author("123", "s")
    repost, original = by_id["weibo:5002"], by_id["weibo:4001"]
    assert repost.reposted_id == "weibo:4001" and repost.text == "转发理由：同样遇到了"
    assert original.reposted_id is None and original.text.startswith("宝安区西乡街道")
    assert original.engagement.shares == 3
    # The listing (what paging and checkpoints follow) excludes the embedded original.
    assert [l.native_id for l in page.listed] == ["5001", "5002"]
    assert page.next_url.endswith("containerid=102803&page=2")


def test_weibo_end_page_is_the_end_not_an_error():
    page = get_adapter("weibo").parse(body("weibo_end.json"), "u", WEIBO, CTX)
    assert page.posts == [] and page.next_url is None


@pytest.mark.parametrize("fixture,message", [
    ("weibo_malformed.json", "invalid JSON"),
    ("weibo_wrong_shape.json", "no user.id"),
])
def test_weibo_malformed(fixture, message):
    with pytest.raises(ParseError, match=message):
        get_adapter("weibo").parse(body(fixture), "u", WEIBO, CTX)


def test_weibo_wrong_top_level_shape():
    with pytest.raises(ParseError, match="data.cards"):
        get_adapter("weibo").parse(b'{"ok":1,"data":{"cards":{}}}', "u", WEIBO, CTX)
    with pytest.raises(ParseError, match="expected an object"):
        get_adapter("weibo").parse(b'[1,2]', "u", WEIBO, CTX)


def test_weibo_page_after_derives_next_page():
    assert get_adapter("weibo").page_after("http://h/api/container/getIndex?containerid=1&page=2") \
        == "http://h/api/container/getIndex?containerid=1&page=3"


def test_discuz_list_and_thread():
    a = get_adapter("discuz")
    assert isinstance(a, DetailAdapter)
    url = "http://sim/jzsz/forum-1-2.html"
    page = a.parse(body("discuz_list.html"), url, BBS, CTX)
    assert page.posts == []
    assert [l.native_id for l in page.listed] == ["9001", "9000"]  # sticky thread skipped
    first = page.listed[0]
    assert first.published_at == datetime(2026, 11, 21, 10, 12, tzinfo=CN)
    assert first.detail_url == "http://sim/jzsz/thread-9001-1-1.html"
    assert first.engagement.comments == 12 and first.engagement.views == 3456
    assert page.listed[1].engagement.views == 12000
    assert page.next_url == "http://sim/jzsz/forum-1-3.html"
    assert a.detail_requests(page) == page.listed

    post = a.parse_detail(body("discuz_thread.html"), first.detail_url, BBS, CTX, first)
    assert post.id == "jiazaishenzhen:9001"
    assert post.title == "龙华区民治&大道噪音扰民"
    assert post.text == "每天晚上 11 点后工地还在施工\n<投诉无门>，请相关部门处理"
    assert post.published_at == datetime(2026, 11, 21, 10, 12, tzinfo=CN)
    assert post.author_name == "民治居民" and post.author_hash == hash_author("321", "s")
    assert post.engagement.likes == 5 and post.engagement.comments == 12
    assert post.media == ("http://sim/jzsz/data/attachment/forum/a.jpg",)


def test_discuz_last_page_and_page_after():
    a = get_adapter("discuz")
    page = a.parse(body("discuz_list_last.html"), "http://sim/jzsz/forum-1-9.html", BBS, CTX)
    assert page.next_url is None and len(page.listed) == 1
    assert a.page_after("http://sim/jzsz/forum-1-9.html") == "http://sim/jzsz/forum-1-10.html"


def test_discuz_truncated_pages():
    a = get_adapter("discuz")
    with pytest.raises(ParseError, match="truncated thread page"):
        a.parse_detail(body("discuz_thread_truncated.html"), "http://sim/jzsz/thread-9001-1-1.html", BBS, CTX)
    with pytest.raises(ParseError, match="truncated forum list"):
        a.parse(body("discuz_list.html")[:700], "http://sim/jzsz/forum-1-1.html", BBS, CTX)


def test_rss_items():
    a = get_adapter("rss")
    url = a.start_url(RSS, "szrss.xml")
    assert url == "http://sim/rss/szrss.xml?paged=1"
    page = a.parse(body("rss_page1.xml"), url, RSS, CTX)
    assert [p.id for p in page.posts] == ["szrss:lianhua-jishui", "szrss:nanshan-ludeng"]
    p = page.posts[0]
    assert p.title == "福田区&莲花路积水严重"
    assert p.text == "今日暴雨，莲花路积水 没过脚踝。\n市民<李先生>反映\n已持续两小时。"
    assert p.published_at == datetime(2026, 11, 21, 10, 12, tzinfo=CN)
    assert p.media == ("https://img.sznews.com/a.jpg",)
    assert p.author_name == "记者 张三"
    assert page.next_url == "http://sim/rss/szrss.xml?paged=2"


def test_rss_truncated_and_wrong_root():
    a = get_adapter("rss")
    with pytest.raises(ParseError, match="malformed XML"):
        a.parse(body("rss_truncated.xml"), "u", RSS, CTX)
    with pytest.raises(ParseError, match="expected <rss><channel>"):
        a.parse(b"<html><body>hi</body></html>", "u", RSS, CTX)


def test_atom_feed():
    page = get_adapter("rss").parse(body("atom.xml"), "https://sz.example/atom.xml", RSS, CTX)
    (p,) = page.posts
    assert p.native_id == "tag:sz.example,2026:post-1"
    assert p.text == "垃圾站&臭味\n影响居民" and p.url == "https://sz.example/post-1"
    assert p.published_at == datetime(2026, 11, 21, 2, 12, tzinfo=timezone.utc)
    assert page.next_url == "https://sz.example/atom.xml?page=2"


def test_item_key_orders_by_utc_time():
    a = item_key(datetime(2026, 11, 21, 10, 0, tzinfo=CN), "9")
    b = item_key(datetime(2026, 11, 21, 3, 0, tzinfo=timezone.utc), "10")
    assert a < b and a == "2026-11-21T02:00:00Z|00000000000000000009"
    same_minute = datetime(2026, 11, 21, 10, 0, tzinfo=CN)
    assert item_key(same_minute, "999") < item_key(same_minute, "1000")
