"""What every adapter returns and the helpers they share.

Contract: an adapter turns one response body of its platform format into a `ParsedPage`
(`core.models.Post` values plus where the next page is), or raises `ParseError` naming what
was wrong. Adapters do no I/O; the spider (crawlers/spiders/platform.py) fetches.
"""
from __future__ import annotations

import html
import re
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Protocol, runtime_checkable

from core.config import PlatformConfig
from core.models import Engagement, Post

CHINA_TZ = timezone(timedelta(hours=8), "Asia/Shanghai")  # China has had no DST since 1991


class ParseError(Exception):
    """A response body is not the format the adapter expects (malformed, truncated, wrong shape)."""


@dataclass(frozen=True)
class ParseContext:
    """Per-crawl values an adapter needs but must not invent: the author salt and crawl time."""

    salt: str
    crawled_at: datetime


@dataclass(frozen=True)
class Listed:
    """One item as the listing shows it, in listing order: drives paging and checkpoints.

    Embedded items (a Weibo repost's original) are posts but not listed: their times say
    nothing about how far down the feed we are.
    """

    native_id: str
    published_at: datetime
    detail_url: str | None = None  # set when the post itself comes from a detail page
    title: str | None = None
    engagement: Engagement = Engagement()

    @property
    def key(self) -> str:
        return item_key(self.published_at, self.native_id)


@dataclass(frozen=True)
class ParsedPage:
    posts: list[Post]
    next_url: str | None
    listed: list[Listed] = field(default_factory=list)
    skipped: int = 0  # deleted/blocked placeholders seen (counted, never stored)
    # Set when the page parsed to zero posts although it does not look like a real empty
    # result (a changed layout): the spider raises the parser-broken alarm with this reason.
    suspect_empty: str | None = None


@runtime_checkable
class Adapter(Protocol):
    """One platform format. Selected by `PlatformConfig.adapter` (see adapters/__init__.py).

    `content_markers`: byte strings only a real content page of this format holds; a body
    with a captcha word but none of these is a block page, not a post that mentions 验证码.
    """

    content_markers: tuple[bytes, ...]

    def start_url(self, platform: PlatformConfig, query: str, page: int = 1) -> str: ...

    def parse(self, body: bytes, url: str, platform: PlatformConfig, ctx: ParseContext) -> ParsedPage: ...

    def page_after(self, url: str, platform: PlatformConfig | None = None) -> str | None:
        """The next page's URL derived from this page's URL alone (to step over a malformed page)."""
        ...


@runtime_checkable
class DetailAdapter(Adapter, Protocol):
    """A format whose listing holds only stubs; each post is read from its own page."""

    def detail_requests(self, page: ParsedPage) -> list[Listed]: ...

    def parse_detail(self, body: bytes, url: str, platform: PlatformConfig, ctx: ParseContext,
                     listed: Listed | None = None) -> Post: ...


def item_key(published_at: datetime, native_id: str) -> str:
    """Checkpoint ordering key: UTC time then id, so string order is time order. Numeric ids
    (Weibo mids, Discuz tids: both increase) are zero-padded so that two posts in the same
    minute (forums show minutes) still order by id, not by digit count."""
    nid = native_id.zfill(20) if native_id.isdigit() else native_id
    return f"{published_at.astimezone(timezone.utc):%Y-%m-%dT%H:%M:%SZ}|{nid}"


_BR = re.compile(r"<br\s*/?>", re.I)
_BLOCK_END = re.compile(r"</(p|div|li|h[1-6]|tr|blockquote)\s*>", re.I)
_IMG_ALT = re.compile(r"<img\b[^>]*?\balt=[\"'](\[[^\"'\]]{1,12}\])[\"'][^>]*>", re.I)  # emoji like [doge]
_DROP = re.compile(r"<(script|style)\b.*?</\1\s*>", re.I | re.S)
_TAG = re.compile(r"<[^>]*>")
_SPACES = re.compile(r"[ \t\r\f\v\u00a0\u3000]+")


def html_to_text(fragment: str) -> str:
    """Plain text of an HTML fragment: tags dropped (their text kept, so #话题# and @name
    survive), <br> and block ends become newlines, entities unescaped, blank runs squeezed."""
    s = _DROP.sub("", fragment)
    s = re.sub(r"[\r\n]+", " ", s)  # source line breaks are just spaces in HTML
    s = _BR.sub("\n", s)
    s = _BLOCK_END.sub("\n", s)
    s = _IMG_ALT.sub(r"\1", s)
    s = _TAG.sub("", s)
    s = html.unescape(s)
    lines = [_SPACES.sub(" ", line).strip() for line in s.split("\n")]
    return re.sub(r"\n{3,}", "\n\n", "\n".join(lines)).strip()


_COUNT = re.compile(r"^(\d+(?:\.\d+)?)\s*(万|w|亿|k|千)?\+?$", re.I)
_UNITS = {None: 1, "万": 10_000, "w": 10_000, "亿": 100_000_000, "k": 1_000, "千": 1_000}


def parse_count(value: object, what: str) -> int:
    """Engagement counts come as ints or display strings ("1.2万", "10w+", "100万+", "1,024")."""
    if value is None or value == "":
        return 0
    if isinstance(value, bool):
        raise ParseError(f"{what}: expected a count, got {value!r}")
    if isinstance(value, int):
        return value
    if isinstance(value, float):
        return int(value)
    if isinstance(value, str):
        m = _COUNT.match(value.strip().replace(",", ""))
        if m:
            unit = m.group(2).lower() if m.group(2) else None
            return int(round(float(m.group(1)) * _UNITS[unit]))
    raise ParseError(f"{what}: expected a count, got {value!r}")


def china_time(text: str, formats: tuple[str, ...], what: str) -> datetime:
    """A local China time without offset (forums show wall-clock time) made aware (+08:00)."""
    text = " ".join(text.split())
    for fmt in formats:
        try:
            return datetime.strptime(text, fmt).replace(tzinfo=CHINA_TZ)
        except ValueError:
            continue
    raise ParseError(f"{what}: unrecognised time {text!r}")


def require(value, what: str):
    """`value` or a ParseError naming the missing piece (never a bare KeyError/IndexError)."""
    if value is None or value == "" or value == []:
        raise ParseError(f"missing {what}")
    return value
