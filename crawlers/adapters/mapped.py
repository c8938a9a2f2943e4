"""What the two generic adapters (json_api, html_page) share: URLs, paging, building a Post.

A platform that uses them is pure data: `url` (a template with {base} {query} {page}
{offset} {cursor}) and `mapping` (core.config.FormatMapping) in config/platforms.yaml.
Paging kinds: page (param += 1), offset (param += size), cursor (param = value at
cursor_path), last_id (param = the last item's id: Mastodon max_id, Discourse before,
t.me/s before), next_url / link (the response names the next URL), none.
"""
from __future__ import annotations

import re
from dataclasses import replace
from urllib.parse import parse_qs, quote, urlencode, urljoin, urlsplit, urlunsplit

from core.config import FormatMapping, PlatformConfig
from core.models import Engagement, Post, hash_author

from crawlers.adapters.base import Listed, ParseContext, ParsedPage, ParseError
from crawlers.adapters.values import html_to_text, is_placeholder, location_label, parse_count, parse_time


def start_url(platform: PlatformConfig, query: str, page: int = 1) -> str:
    m = _mapping(platform)
    n = m.paging.start + page - 1
    return (platform.url or "").format(base=platform.base_url.rstrip("/"), query=quote(query, safe=""),
                                       page=n, offset=(page - 1) * m.paging.size, cursor="")


def with_param(url: str, name: str, value: object) -> str:
    parts = urlsplit(url)
    q = {k: v[0] for k, v in parse_qs(parts.query, keep_blank_values=True).items()}
    q[name] = str(value)
    return urlunsplit(parts._replace(query=urlencode(q)))


def param(url: str, name: str) -> str | None:
    return parse_qs(urlsplit(url).query, keep_blank_values=True).get(name, [None])[0]


def step_url(url: str, platform: PlatformConfig) -> str | None:
    """The next page from this URL alone (to step over a malformed page): page/offset only."""
    p = _mapping(platform).paging
    cur = param(url, p.param)
    try:
        n = int(cur) if cur not in (None, "") else (p.start if p.kind == "page" else 0)
    except ValueError:
        return None
    if p.kind == "page":
        return with_param(url, p.param, n + 1)
    if p.kind == "offset":
        return with_param(url, p.param, n + p.size)
    return None


def next_url(url: str, platform: PlatformConfig, n_items: int, last_id: str | None,
             cursor: object, has_more: object, total_pages: object) -> str | None:
    """The next list URL, or None at the end. `cursor` is the value at cursor_path."""
    p = _mapping(platform).paging
    if n_items == 0 or p.kind == "none":
        return None
    if has_more is not None and str(has_more).lower() in ("0", "false", "none", ""):
        return None
    if p.kind in ("page", "offset"):
        if total_pages not in (None, ""):
            cur = int(param(url, p.param) or p.start)
            if cur - p.start + 1 >= int(total_pages):
                return None
        return step_url(url, platform)
    if p.kind == "last_id":
        return with_param(url, p.param, last_id) if last_id else None
    if cursor in (None, "", 0) or str(cursor) in p.end_values:
        return None
    if p.kind == "cursor":
        return with_param(url, p.param, cursor)
    return urljoin(url, str(cursor))  # next_url / link


def _mapping(platform: PlatformConfig) -> FormatMapping:
    if platform.mapping is None:
        raise ParseError(f"platform {platform.name} has no mapping")
    return platform.mapping


def regex_group(pattern: str | None, value: str) -> str:
    if not pattern or not value:
        return value
    m = re.search(pattern, value)
    return (m.group(1) if m.groups() else m.group(0)) if m else ""


class Item:
    """One item's raw values through a getter(path) -> value (JSON path or CSS)."""

    def __init__(self, get, where: str):
        self.get = get
        self.where = where


def build_post(item: Item, platform: PlatformConfig, ctx: ParseContext, page_url: str,
               get_nested=None) -> tuple[Post | None, Post | None]:
    """(post, embedded original) from one item; (None, None) for a deleted placeholder."""
    f = _mapping(platform).fields
    where = item.where
    native_id = regex_group(f.id_regex, _s(item.get(f.id)))
    if not native_id:
        raise ParseError(f"{platform.name}: {where} has no id ({f.id})")
    text = html_to_text(_s(item.get(f.text)))
    title = html_to_text(_s(item.get(f.title))) if f.title else None
    # A boost/reblog has no words of its own: not a deleted post.
    boosted = bool(f.repost_object and get_nested is not None and get_nested(f.repost_object) is not None)
    if is_placeholder(text) and not title and not boosted:
        return None, None
    raw_time = item.get(f.time)
    if f.time_regex and raw_time is not None:
        raw_time = regex_group(f.time_regex, _s(raw_time))
    published = parse_time(raw_time, ctx.crawled_at, f.time_kind, f"{platform.name}: {where} ({native_id})")
    author_id = _s(item.get(f.author_id)) if f.author_id else ""
    author_name = html_to_text(_s(item.get(f.author_name))) if f.author_name else ""
    url = _s(item.get(f.url)) if f.url else ""
    if url:
        url = urljoin(page_url, url)
    elif f.url_template:
        url = f.url_template.format(id=native_id, author=author_id or author_name)
    else:
        url = page_url
    media: list[str] = []
    if f.media:
        raw = item.get(f.media)
        for m in raw if isinstance(raw, list) else ([raw] if raw else []):
            if isinstance(m, dict) and f.media_key:
                m = _dig(m, f.media_key)
            if isinstance(m, str) and m:
                media.append(urljoin(page_url, m))
    post = Post(
        platform=platform.name, native_id=native_id, url=url,
        author_hash=hash_author(author_id or author_name or "anonymous", ctx.salt),
        author_name=author_name or author_id, title=title or None, text=text,
        published_at=published, crawled_at=ctx.crawled_at,
        engagement=Engagement(**{k: parse_count(item.get(getattr(f, k)), f"{where}.{k}")
                                 if getattr(f, k) else 0 for k in ("likes", "comments", "shares", "views")}),
        geotag=location_label(item.get(f.geo)) if f.geo else None,
        media=tuple(dict.fromkeys(media)))
    original = None
    if f.repost_object and get_nested is not None:
        nested = get_nested(f.repost_object)
        if nested is not None:
            original, _ = build_post(nested, platform, ctx, page_url)
            if original is not None:
                post = replace(post, reposted_id=original.id)
            else:
                post = replace(post, reposted_id=None)
    if f.repost_id and post.reposted_id is None:
        rid = regex_group(f.repost_id_regex, _s(item.get(f.repost_id)))
        if rid:
            post = replace(post, reposted_id=f"{platform.name}:{rid}")
    if not post.text and post.title:
        post = replace(post, text=post.title)
    return post, original


def page_of(posts_and_originals: list[tuple[Post | None, Post | None]], nxt: str | None,
            skipped: int) -> ParsedPage:
    posts: dict[str, Post] = {}
    listed: list[Listed] = []
    for post, original in posts_and_originals:
        if original is not None:
            posts.setdefault(original.id, original)
        if post is not None:
            posts[post.id] = post
            listed.append(Listed(post.native_id, post.published_at))
    return ParsedPage(list(posts.values()), nxt, listed, skipped=skipped)


def _s(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def _dig(doc: object, path: str) -> object:
    cur = doc
    for part in path.split(".") if path else []:
        if isinstance(cur, dict):
            cur = cur.get(part)
        elif isinstance(cur, list) and part.lstrip("-").isdigit():
            i = int(part)
            cur = cur[i] if -len(cur) <= i < len(cur) else None
        else:
            return None
        if cur is None:
            return None
    return cur


dig = _dig
