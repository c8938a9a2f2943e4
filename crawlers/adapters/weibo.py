"""Weibo's mobile container API (m.weibo.cn `/api/container/getIndex`), query = containerid.

Page n: `{base}/api/container/getIndex?containerid=Q&page=n`. `ok: 1` carries `data.cards`;
cards with `card_type` 9 hold an `mblog` (11 nests more cards in `card_group`); `ok: 0` with no
cards is the end of the feed. A repost yields two posts: the original (from
`retweeted_status`) and the repost with `reposted_id` and only its own words.
"""
from __future__ import annotations

import json
import re
from dataclasses import replace
from datetime import datetime, timedelta
from urllib.parse import parse_qs, urlencode, urlsplit, urlunsplit

from core.config import PlatformConfig
from core.models import Engagement, Post, hash_author

from crawlers.adapters.base import (CHINA_TZ, Listed, ParseContext, ParsedPage, ParseError,
                                    html_to_text, parse_count)

POST_URL = "https://m.weibo.cn/detail/{id}"  # the canonical public URL, whatever host we crawl


class WeiboAdapter:
    name = "weibo"
    content_markers = (b'"mblog"', b'"cardlistInfo"')

    def start_url(self, platform: PlatformConfig, query: str, page: int = 1) -> str:
        base = platform.base_url.rstrip("/")
        return f"{base}/api/container/getIndex?{urlencode({'containerid': query, 'page': page})}"

    def page_after(self, url: str, platform: PlatformConfig | None = None) -> str | None:
        return _with_page(url, _page_of(url) + 1)

    def parse(self, body: bytes, url: str, platform: PlatformConfig, ctx: ParseContext) -> ParsedPage:
        try:
            doc = json.loads(body)
        except (ValueError, UnicodeDecodeError) as exc:
            raise ParseError(f"weibo: invalid JSON at {url}: {exc}") from None
        if not isinstance(doc, dict) or "ok" not in doc:
            raise ParseError(f"weibo: expected an object with 'ok', got {type(doc).__name__}")
        data = doc.get("data")
        if str(doc["ok"]) != "1":
            # ok:0 with no cards is how the API says "no more pages", not a failure.
            if isinstance(data, dict) and not data.get("cards"):
                return ParsedPage([], None)
            raise ParseError(f"weibo: ok={doc['ok']!r} msg={doc.get('msg')!r}")
        if not isinstance(data, dict) or not isinstance(data.get("cards"), list):
            raise ParseError("weibo: 'data.cards' is missing or not a list")
        posts: dict[str, Post] = {}
        listed: list[Listed] = []
        for mblog in _mblogs(data["cards"]):
            repost = _post(mblog, platform, ctx, "mblog")
            original = mblog.get("retweeted_status")
            if original is not None:
                if not isinstance(original, dict):
                    raise ParseError(f"weibo: mblog {repost.native_id}: retweeted_status is not an object")
                # A deleted original comes back without its author: nothing to keep.
                if original.get("user"):
                    orig = _post(original, platform, ctx, f"mblog {repost.native_id}.retweeted_status")
                    posts.setdefault(orig.id, orig)
                    repost = replace(repost, reposted_id=orig.id)
            posts[repost.id] = repost
            listed.append(Listed(repost.native_id, repost.published_at))
        info = data.get("cardlistInfo") or {}
        if not isinstance(info, dict):
            raise ParseError("weibo: 'data.cardlistInfo' is not an object")
        nxt = info.get("page")
        next_url = _with_page(url, int(nxt)) if nxt not in (None, "", 0) and listed else None
        return ParsedPage(list(posts.values()), next_url, listed)


def _mblogs(cards: list) -> list[dict]:
    out = []
    for i, card in enumerate(cards):
        if not isinstance(card, dict):
            raise ParseError(f"weibo: cards[{i}] is not an object")
        if card.get("card_type") in (9, "9") and card.get("mblog") is not None:
            if not isinstance(card["mblog"], dict):
                raise ParseError(f"weibo: cards[{i}].mblog is not an object")
            out.append(card["mblog"])
        elif isinstance(card.get("card_group"), list):  # search results nest cards one level
            out.extend(_mblogs(card["card_group"]))
    return out


def _post(m: dict, platform: PlatformConfig, ctx: ParseContext, where: str) -> Post:
    native_id = str(m.get("id") or m.get("mid") or "")
    if not native_id:
        raise ParseError(f"weibo: {where} has no id")
    user = m.get("user")
    if not isinstance(user, dict) or user.get("id") in (None, ""):
        raise ParseError(f"weibo: {where} ({native_id}) has no user.id")
    if "created_at" not in m or "text" not in m:
        raise ParseError(f"weibo: {where} ({native_id}) lacks created_at or text")
    region = (m.get("region_name") or "").strip()
    region = re.sub(r"^发布于\s*", "", region) or None
    media = []
    for pic in m.get("pics") or []:
        if isinstance(pic, dict):
            large = pic.get("large") if isinstance(pic.get("large"), dict) else {}
            if large.get("url") or pic.get("url"):
                media.append(large.get("url") or pic.get("url"))
    return Post(
        platform=platform.name, native_id=native_id, url=POST_URL.format(id=native_id),
        author_hash=hash_author(str(user["id"]), ctx.salt),
        author_name=str(user.get("screen_name") or ""), title=None,
        text=html_to_text(str(m["text"])),
        published_at=weibo_time(str(m["created_at"]), ctx.crawled_at),
        crawled_at=ctx.crawled_at,
        engagement=Engagement(
            likes=parse_count(m.get("attitudes_count"), f"{where}.attitudes_count"),
            comments=parse_count(m.get("comments_count"), f"{where}.comments_count"),
            shares=parse_count(m.get("reposts_count"), f"{where}.reposts_count")),
        geotag=region, media=tuple(media))


_REL_MIN = re.compile(r"^(\d+)\s*分钟前$")
_REL_HOUR = re.compile(r"^(\d+)\s*小时前$")


def weibo_time(text: str, now: datetime) -> datetime:
    """`Sat Nov 21 10:12:00 +0800 2026`, or the display forms some endpoints use instead
    (刚刚, 5分钟前, 2小时前, 昨天 10:12, 11-21, 2025-11-21)."""
    text = text.strip()
    try:
        return datetime.strptime(text, "%a %b %d %H:%M:%S %z %Y")
    except ValueError:
        pass
    local = now.astimezone(CHINA_TZ)
    if text == "刚刚":
        return now
    if m := _REL_MIN.match(text):
        return now - timedelta(minutes=int(m.group(1)))
    if m := _REL_HOUR.match(text):
        return now - timedelta(hours=int(m.group(1)))
    for prefix, days in (("今天", 0), ("昨天", 1)):
        if text.startswith(prefix):
            try:
                hm = datetime.strptime(text[len(prefix):].strip(), "%H:%M")
            except ValueError:
                break
            day = local - timedelta(days=days)
            return day.replace(hour=hm.hour, minute=hm.minute, second=0, microsecond=0)
    for fmt, with_year in (("%Y-%m-%d", True), ("%m-%d", False)):
        try:
            d = datetime.strptime(text, fmt)
        except ValueError:
            continue
        return d.replace(year=d.year if with_year else local.year, tzinfo=CHINA_TZ)
    raise ParseError(f"weibo: unrecognised created_at {text!r}")


def _page_of(url: str) -> int:
    try:
        return int(parse_qs(urlsplit(url).query).get("page", ["1"])[0])
    except ValueError:
        return 1


def _with_page(url: str, page: int) -> str:
    parts = urlsplit(url)
    q = {k: v[0] for k, v in parse_qs(parts.query, keep_blank_values=True).items()}
    q["page"] = str(page)
    return urlunsplit(parts._replace(query=urlencode(q)))
