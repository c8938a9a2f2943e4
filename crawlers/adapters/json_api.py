"""Generic JSON API adapter: any platform whose response is an item list inside JSON,
described by `mapping` in config/platforms.yaml (see core.config.FormatMapping and
crawlers.adapters.mapped). Used by Douyin, Kuaishou, Xiaohongshu, Bilibili, Zhihu, Reddit,
X, Mastodon, Bluesky, YouTube, Hacker News (Algolia), Discourse and others.

A body that is not JSON, an error envelope (`ok_path` not in `ok_values`) and a missing
item list are ParseErrors; an empty item list is a real empty result.
"""
from __future__ import annotations

import json

from core.config import PlatformConfig

from crawlers.adapters import mapped
from crawlers.adapters.base import ParseContext, ParsedPage, ParseError


class JsonApiAdapter:
    name = "json_api"
    content_markers = (b'":',)  # any JSON object is content; a captcha comes back as HTML

    def start_url(self, platform: PlatformConfig, query: str, page: int = 1) -> str:
        return mapped.start_url(platform, query, page)

    def page_after(self, url: str, platform: PlatformConfig | None = None) -> str | None:
        return mapped.step_url(url, platform) if platform is not None else None

    def parse(self, body: bytes, url: str, platform: PlatformConfig, ctx: ParseContext) -> ParsedPage:
        m = platform.mapping
        try:
            doc = json.loads(body)
        except (ValueError, UnicodeDecodeError) as exc:
            raise ParseError(f"{platform.name}: invalid JSON at {url}: {exc}") from None
        if m.ok_path:
            ok = mapped.dig(doc, m.ok_path)
            if str(ok) not in m.ok_values:
                raise ParseError(f"{platform.name}: API status {m.ok_path}={ok!r} at {url}")
        items = mapped.dig(doc, m.items) if m.items else doc
        if not isinstance(items, list):
            if items is None and m.paging.has_more_path and _false(mapped.dig(doc, m.paging.has_more_path)):
                items = []  # some APIs drop the list entirely on the last page
            else:
                raise ParseError(f"{platform.name}: '{m.items or '<root>'}' is missing or not a list at {url}")
        got, skipped = [], 0
        for i, raw in enumerate(items):
            if not isinstance(raw, dict):
                raise ParseError(f"{platform.name}: {m.items}[{i}] is not an object")
            item = mapped.Item(lambda path, raw=raw: mapped.dig(raw, path) if path else None, f"{m.items}[{i}]")

            def nested(path, raw=raw, i=i):
                obj = mapped.dig(raw, path)
                if not isinstance(obj, dict):
                    return None
                return mapped.Item(lambda p: mapped.dig(obj, p) if p else None, f"{m.items}[{i}].{path}")
            post, original = mapped.build_post(item, platform, ctx, url, nested)
            skipped += post is None
            got.append((post, original))
        last_id = next((p.native_id for p, _ in reversed(got) if p is not None), None)
        p = m.paging
        nxt = mapped.next_url(url, platform, len(items), last_id,
                              mapped.dig(doc, p.cursor_path) if p.cursor_path else None,
                              mapped.dig(doc, p.has_more_path) if p.has_more_path else None,
                              mapped.dig(doc, p.total_pages_path) if p.total_pages_path else None)
        page = mapped.page_of(got, nxt, skipped)
        if not items and (mapped.dig(doc, p.has_more_path) if p.has_more_path else None) not in (None,) \
                and not _false(mapped.dig(doc, p.has_more_path)):
            # "more pages" but nothing on this one: the item list moved somewhere else.
            return ParsedPage(page.posts, None, page.listed, page.skipped,
                              suspect_empty=f"no items at '{m.items}' but {p.has_more_path} says more")
        return page


def _false(value: object) -> bool:
    return value is None or str(value).lower() in ("0", "false", "none", "")
