"""Real-world values as platforms print them, parsed in one place for every adapter.

Times: epoch seconds or milliseconds (numbers or digit strings), ISO-8601 (with `Z`, `+0000`
or no offset = China time), RFC 2822, Weibo's `Sat Nov 21 10:12:00 +0800 2026`, and the
relative Chinese display forms (刚刚, 3分钟前, 2小时前, 今天 09:10, 昨天 12:30, 前天 08:00,
3天前, 08-24, 08-24 10:12, 2025-08-24). Counts: `1.2万`, `10w+`, `3.4k`, `1,024`, `1.2K`.
Deleted/blocked placeholders and `发布于 浙江` location labels.
"""
from __future__ import annotations

import email.utils
import re
from datetime import datetime, timedelta, timezone

from crawlers.adapters.base import CHINA_TZ, ParseError, html_to_text
from crawlers.adapters.base import parse_count as _strict_count

__all__ = ["parse_time", "parse_count", "html_to_text", "is_placeholder", "location_label"]

_LABELLED = re.compile(r"(\d[\d,]*(?:\.\d+)?\s*(?:万|w|亿|k|千)?\+?)", re.I)


def parse_count(value: object, what: str = "count") -> int:
    """Counts as ints or display strings, also with a label around them: `评论 12`,
    `1.2K views`, `赞(3)`; a label with no number ("赞", "评论") means 0."""
    if isinstance(value, str):
        text = value.strip()
        try:
            return _strict_count(text, what)
        except ParseError:
            m = _LABELLED.search(text)
            if m:
                return _strict_count(m.group(1).replace(" ", ""), what)
            if len(text) <= 6 and not any(ch.isdigit() for ch in text):
                return 0  # the bare label a platform shows for zero
            raise
    return _strict_count(value, what)


_REL = re.compile(r"^(\d+)\s*(秒|分钟|小时|天|周|个月)前$")
_REL_SECONDS = {"秒": 1, "分钟": 60, "小时": 3600, "天": 86400, "周": 7 * 86400, "个月": 30 * 86400}
_DAY_WORDS = {"今天": 0, "昨天": 1, "前天": 2}
_DIGITS = re.compile(r"^\d{9,13}(\.\d+)?$")


def _epoch(value: float, ms: bool | None = None) -> datetime:
    if ms is None:
        ms = value > 1e11  # seconds pass 1e11 only in the year 5138
    return datetime.fromtimestamp(value / 1000 if ms else value, tz=timezone.utc)


def _iso(text: str) -> datetime | None:
    t = text.strip().replace("Z", "+00:00")
    t = re.sub(r"([+-]\d{2})(\d{2})$", r"\1:\2", t)  # Facebook/Instagram print +0000
    try:
        value = datetime.fromisoformat(t)
    except ValueError:
        return None
    return value if value.tzinfo is not None else value.replace(tzinfo=CHINA_TZ)


def _rfc2822(text: str) -> datetime | None:
    try:
        value = email.utils.parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError):
        return None
    return value if value.tzinfo is not None else value.replace(tzinfo=CHINA_TZ)


def _cn_relative(text: str, now: datetime) -> datetime | None:
    local = now.astimezone(CHINA_TZ)
    t = " ".join(text.replace("发布于", "").replace("发表于", "").split())
    if t in ("刚刚", "刚才"):
        return now
    if m := _REL.match(t):
        return now - timedelta(seconds=int(m.group(1)) * _REL_SECONDS[m.group(2)])
    for word, days in _DAY_WORDS.items():
        if t.startswith(word):
            rest = t[len(word):].strip() or "00:00"
            try:
                hm = datetime.strptime(rest, "%H:%M")
            except ValueError:
                return None
            day = local - timedelta(days=days)
            return day.replace(hour=hm.hour, minute=hm.minute, second=0, microsecond=0)
    for fmt, with_year in (("%Y-%m-%d %H:%M:%S", True), ("%Y-%m-%d %H:%M", True), ("%Y-%m-%d", True),
                           ("%Y年%m月%d日 %H:%M", True), ("%Y年%m月%d日", True), ("%Y/%m/%d %H:%M", True),
                           ("%m-%d %H:%M", False), ("%m-%d", False), ("%m月%d日 %H:%M", False),
                           ("%m月%d日", False)):
        try:
            d = datetime.strptime(t, fmt)
        except ValueError:
            continue
        value = d.replace(year=d.year if with_year else local.year, tzinfo=CHINA_TZ)
        if not with_year and value > now + timedelta(days=1):
            value = value.replace(year=local.year - 1)  # "12-30" read on Jan 2 is last year
        return value
    return None


def _weibo(text: str) -> datetime | None:
    try:
        return datetime.strptime(text.strip(), "%a %b %d %H:%M:%S %z %Y")
    except ValueError:
        return None


def parse_time(value: object, now: datetime, kind: str = "auto", what: str = "time") -> datetime:
    """An aware datetime from any of the platform forms; `now` anchors relative ones."""
    if value is None or value == "":
        raise ParseError(f"{what}: missing time")
    if isinstance(value, bool):
        raise ParseError(f"{what}: not a time: {value!r}")
    if isinstance(value, (int, float)):
        if kind in ("auto", "epoch", "epoch_ms"):
            return _epoch(float(value), True if kind == "epoch_ms" else (False if kind == "epoch" else None))
        raise ParseError(f"{what}: expected {kind}, got number {value!r}")
    text = str(value).strip()
    if kind in ("epoch", "epoch_ms") or (kind == "auto" and _DIGITS.match(text)):
        try:
            return _epoch(float(text), True if kind == "epoch_ms" else (False if kind == "epoch" else None))
        except ValueError:
            raise ParseError(f"{what}: bad epoch {text!r}") from None
    parsers = {"iso": (_iso,), "rfc2822": (_rfc2822,), "weibo": (_weibo, lambda t: _cn_relative(t, now)),
               "cn_relative": (lambda t: _cn_relative(t, now),),
               "auto": (_iso, _weibo, _rfc2822, lambda t: _cn_relative(t, now))}[kind]
    for parse in parsers:
        got = parse(text)
        if got is not None:
            return got
    raise ParseError(f"{what}: unrecognised time {text!r}")


# What platforms show in place of a removed post: keep the count, never store it as a post.
PLACEHOLDERS = (
    "该微博已被删除", "此微博已被作者删除", "此微博已被删除", "该内容已被删除", "此内容已被作者删除",
    "该帖子已被删除", "该回答已被删除", "内容已删除", "该视频已删除", "作品已删除", "该笔记已被删除",
    "根据相关法律法规", "由于作者设置", "该账号因被投诉违反", "此内容因违规无法查看",
    "[deleted]", "[removed]", "This post was deleted", "This Tweet is unavailable",
    "This post is unavailable", "Content unavailable",
)


def is_placeholder(text: str) -> bool:
    """True for a deleted/blocked stub (short text that is mostly a placeholder phrase)."""
    t = text.strip()
    if not t:
        return True
    return len(t) <= 80 and any(p in t for p in PLACEHOLDERS)


_LOCATION = re.compile(r"^(?:发布于|IP属地[:：]?|IP:\s*|来自)\s*")


def location_label(value: object) -> str | None:
    """`发布于 浙江` / `IP属地：广东` → `浙江` / `广东`: weak evidence (the poster's IP region)."""
    if value is None:
        return None
    t = _LOCATION.sub("", str(value).strip()).strip()
    return t or None
