"""Generic HTML list adapter: one post per element matching `mapping.items` (CSS), fields by
CSS relative to it (see core.config.FieldMap). Used by Tieba, Douban groups, Sogou WeChat
search, 奥一网, Telegram's t.me/s pages, the browser-rendered Dianping page and others.

A page without `</html>` is truncated (lxml would silently repair it). A page with no item
and without the platform's `empty_marker` text parses to zero posts with `suspect_empty`
set, so the spider raises the parser-broken alarm instead of ending quietly: that is what a
changed layout looks like.
"""
from __future__ import annotations

from parsel import Selector

from core.config import PlatformConfig

from crawlers.adapters import mapped
from crawlers.adapters.base import ParseContext, ParsedPage, ParseError


def _value(sel: Selector, css: str | None):
    """`::text`/`::attr()` selectors give the first string (all strings for media); bare
    selectors give the first element's HTML (html_to_text makes it plain later)."""
    if not css:
        return None
    if css == "@html":
        return sel.get()
    found = sel.css(css)
    if not found:
        return None
    if "::text" in css:
        return "".join(found.getall()).strip()
    return found[0].get()


class HtmlPageAdapter:
    name = "html_page"
    content_markers = ()  # set per platform through mapping.items (see content_markers_for)

    def start_url(self, platform: PlatformConfig, query: str, page: int = 1) -> str:
        return mapped.start_url(platform, query, page)

    def page_after(self, url: str, platform: PlatformConfig | None = None) -> str | None:
        return mapped.step_url(url, platform) if platform is not None else None

    def parse(self, body: bytes, url: str, platform: PlatformConfig, ctx: ParseContext) -> ParsedPage:
        m = platform.mapping
        if b"</html>" not in body[-4096:].lower():
            raise ParseError(f"{platform.name}: truncated page at {url}: no closing </html>")
        try:
            sel = Selector(text=body.decode("utf-8", errors="replace"))
        except ValueError as exc:
            raise ParseError(f"{platform.name}: unparsable page at {url}: {exc}") from None
        nodes = sel.css(m.items)
        got, skipped = [], 0
        f = m.fields
        for i, node in enumerate(nodes):
            def get(css, node=node):
                if css and css == f.media:
                    return node.css(css).getall()
                return _value(node, css)
            post, original = mapped.build_post(mapped.Item(get, f"{m.items}[{i}]"), platform, ctx, url)
            skipped += post is None
            got.append((post, original))
        if m.newest_last:
            got.reverse()
        last_id = next((p.native_id for p, _ in reversed(got) if p is not None), None)
        p = m.paging
        cursor = _value(sel, p.cursor_path) if p.cursor_path else None
        nxt = mapped.next_url(url, platform, len(nodes), last_id, cursor, None,
                              _value(sel, p.total_pages_path) if p.total_pages_path else None)
        page = mapped.page_of(got, nxt, skipped)
        if not nodes:
            text = sel.xpath("string(//body)").get() or ""
            if not (m.empty_marker and m.empty_marker in text):
                return ParsedPage([], None, [], 0, suspect_empty=(
                    f"no '{m.items}' on {url} and no empty-result marker {m.empty_marker!r}: layout changed?"))
        return page
