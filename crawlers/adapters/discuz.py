"""Discuz! X3 boards (家在深圳 and most Chinese city forums), query = forum id.

List page n: `{base}/forum-{fid}-{n}.html`, one `<tbody id="normalthread_<tid>">` per thread
(sticky threads are skipped: they break newest-first order), `a.nxt` to the next page, 404
past the end. Each post is read from its thread page `thread-<tid>-1-1.html` (first floor).
Times are Asia/Shanghai wall-clock without offset.
"""
from __future__ import annotations

import re
from datetime import datetime
from urllib.parse import urljoin

from parsel import Selector

from core.config import PlatformConfig
from core.models import Engagement, Post, hash_author

from crawlers.adapters.base import (Listed, ParseContext, ParsedPage, ParseError, china_time,
                                    html_to_text, parse_count, require)

_TIME_FORMATS = ("%Y-%m-%d %H:%M:%S", "%Y-%m-%d %H:%M", "%Y-%m-%d")
_LIST_URL = re.compile(r"forum-([^-/]+)-(\d+)\.html")
_UID = re.compile(r"space-uid-(\d+)\.html")
_PID = re.compile(r"^post_(\d+)$")


def _selector(body: bytes, url: str, what: str) -> Selector:
    # lxml silently repairs a cut-off page; a Discuz page always ends with </html>.
    if b"</html>" not in body[-4096:].lower():
        raise ParseError(f"discuz: truncated {what} at {url}: no closing </html>")
    try:
        return Selector(text=body.decode("utf-8", errors="replace"))
    except ValueError as exc:
        raise ParseError(f"discuz: unparsable {what} at {url}: {exc}") from None


def _time(*candidates: str | None, what: str) -> datetime:
    """The most precise parsable time: lists show 'YYYY-MM-DD HH:MM' text with a date title,
    or a relative text ('3 小时前') with the full time in the title."""
    best: tuple[int, datetime] | None = None
    for text in candidates:
        text = (text or "").replace("发表于", "").strip()
        for rank, fmt in enumerate(_TIME_FORMATS):
            try:
                value = china_time(text, (fmt,), what)
            except ParseError:
                continue
            if best is None or rank < best[0]:
                best = (rank, value)
            break
    if best is None:
        raise ParseError(f"discuz: {what}: no parsable time in {candidates!r}")
    return best[1]


class DiscuzAdapter:
    name = "discuz"
    content_markers = (b"normalthread_", b"postmessage_")

    def start_url(self, platform: PlatformConfig, query: str, page: int = 1) -> str:
        return f"{platform.base_url.rstrip('/')}/forum-{query}-{page}.html"

    def page_after(self, url: str, platform: PlatformConfig | None = None) -> str | None:
        m = _LIST_URL.search(url)
        if not m:
            return None
        return url[:m.start()] + f"forum-{m.group(1)}-{int(m.group(2)) + 1}.html" + url[m.end():]

    def parse(self, body: bytes, url: str, platform: PlatformConfig, ctx: ParseContext) -> ParsedPage:
        sel = _selector(body, url, "forum list")
        listed: list[Listed] = []
        for tb in sel.xpath("//tbody[starts-with(@id, 'normalthread_')]"):
            tid = tb.attrib["id"].removeprefix("normalthread_")
            where = f"thread {tid}"
            link = tb.css("a.xst")
            href = require(link.attrib.get("href") if link else None, f"{where}: title link a.xst")
            title = html_to_text(link.get() or "")
            # The first <em> after the author's <cite> is the post time; later ones are last reply.
            span = tb.xpath("(.//cite/following-sibling::em)[1]//span")
            if not span:
                span = tb.xpath(".//em/span[@title]")
            if not span:
                raise ParseError(f"discuz: {where}: no post time")
            published = _time("".join(span[0].xpath(".//text()").getall()),
                              span[0].attrib.get("title"), what=where)
            replies = tb.css("td.num a.xi2::text").get()
            views = tb.css("td.num em::text").get()
            listed.append(Listed(
                native_id=tid, published_at=published, detail_url=urljoin(url, href), title=title,
                engagement=Engagement(comments=parse_count(replies, f"{where} replies"),
                                      views=parse_count(views, f"{where} views"))))
        nxt = sel.css("a.nxt::attr(href)").get()
        return ParsedPage([], urljoin(url, nxt) if nxt and listed else None, listed)

    def detail_requests(self, page: ParsedPage) -> list[Listed]:
        return [item for item in page.listed if item.detail_url]

    def parse_detail(self, body: bytes, url: str, platform: PlatformConfig, ctx: ParseContext,
                     listed: Listed | None = None) -> Post:
        sel = _selector(body, url, "thread page")
        title = html_to_text(sel.css("#thread_subject").get() or "") or (listed.title if listed else "")
        if not title:
            raise ParseError(f"discuz: thread page {url} has no #thread_subject")
        first = next((d for d in sel.xpath("//div[starts-with(@id, 'post_')]")
                      if _PID.match(d.attrib.get("id", ""))), None)
        if first is None:
            raise ParseError(f"discuz: thread page {url} has no first post div#post_<pid>")
        pid = first.attrib["id"].removeprefix("post_")
        author = first.css("a.xw1")
        uid = _UID.search(author.attrib.get("href", "")) if author else None
        if uid is None:
            raise ParseError(f"discuz: post {pid} at {url}: no author link space-uid-<uid>")
        posted = first.css(f"#authorposton{pid}")
        if not posted:
            raise ParseError(f"discuz: post {pid} at {url}: no em#authorposton{pid}")
        published = _time("".join(posted.xpath(".//text()").getall()),
                          posted.xpath(".//span/@title").get(), what=f"post {pid}")
        body_el = first.css(f"#postmessage_{pid}")
        if not body_el:
            raise ParseError(f"discuz: post {pid} at {url}: no td#postmessage_{pid}")
        # "本帖最后由 X 于 … 编辑" is forum furniture, not the poster's words.
        body_html = re.sub(r'<i class="pstatus">.*?</i>', "", body_el.get(), flags=re.S)
        media = tuple(urljoin(url, u) for u in first.css("img::attr(zoomfile)").getall())
        tid = listed.native_id if listed else _tid_from(url)
        likes = sel.css(f"#recommendv_add_{tid}::text").get()
        eng = listed.engagement if listed else Engagement()
        return Post(
            platform=platform.name, native_id=tid, url=url,
            author_hash=hash_author(uid.group(1), ctx.salt),
            author_name=html_to_text(author.get() or ""), title=title,
            text=html_to_text(body_html), published_at=published, crawled_at=ctx.crawled_at,
            engagement=Engagement(likes=parse_count(likes, f"thread {tid} likes"),
                                  comments=eng.comments, views=eng.views),
            media=media)


def _tid_from(url: str) -> str:
    m = re.search(r"thread-(\d+)-", url) or re.search(r"[?&]tid=(\d+)", url)
    if not m:
        raise ParseError(f"discuz: cannot tell the thread id from {url}")
    return m.group(1)
