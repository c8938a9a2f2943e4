"""What goes into and comes out of a search index: frozen, validated at construction.

A `PostQuery` that is constructed is a query every backend can run: input checks live here,
once, so the embedded and Elasticsearch backends refuse exactly the same things.
"""
from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass, field
from datetime import date, datetime, timezone

from core.search.errors import SearchError
from core.search.query import Terms, parse_terms

MAX_TEXT = 200  # characters; longer text is a paste, not a query
MAX_SIZE = 100  # hits per page; deeper reads page with `after`


def encode_cursor(published_at: datetime, post_id: str) -> str:
    """The opaque `after` of the hit (published_at, post_id): where the next page starts."""
    raw = json.dumps([published_at.astimezone(timezone.utc).isoformat(), post_id], ensure_ascii=False)
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[datetime, str]:
    """(published_at, post_id) of a cursor made by `encode_cursor`; anything else is a SearchError."""
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        at, post_id = json.loads(raw.decode())
        when = datetime.fromisoformat(at)
        if when.tzinfo is None or not isinstance(post_id, str) or not post_id:
            raise ValueError("not a cursor")
        return when, post_id
    except (binascii.Error, UnicodeDecodeError, ValueError, TypeError) as exc:
        raise SearchError(f"malformed cursor {cursor[:40]!r}: pass back a next_after "
                          f"from a previous page unchanged") from exc


def _aware(value: datetime | None, name: str) -> None:
    if value is not None and (value.tzinfo is None or value.utcoffset() is None):
        raise SearchError(f"{name} must be timezone-aware, got {value.isoformat()}")


@dataclass(frozen=True)
class PostQuery:
    """Posts matching every word and quoted phrase of `text` and every filter, newest first
    (published_at desc, then post id asc), `size` per page, continuing after the cursor
    `after`. `since` is inclusive and `until` exclusive, like a Window."""

    text: str = ""
    district: str | None = None
    # The caller's scope: posts in any of these districts (an analyst sees their districts
    # only); empty means every district. Not a filter the caller chose, so it alone is no query.
    districts: tuple[str, ...] = ()
    category: str | None = None
    platform: str | None = None
    since: datetime | None = None
    until: datetime | None = None
    relevant_only: bool = False
    size: int = 20
    after: str | None = None
    terms: Terms = field(init=False, repr=False, compare=False)
    cursor: tuple[datetime, str] | None = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        text = self.text or ""
        if len(text) > MAX_TEXT:
            raise SearchError(f"query text is {len(text)} characters; at most {MAX_TEXT} are allowed")
        if not text.strip() and not self.has_filter:
            raise SearchError("empty query: give words to look for or at least one filter "
                              "(district, category, platform, since, until, relevant_only)")
        if isinstance(self.size, bool) or not isinstance(self.size, int) or not 1 <= self.size <= MAX_SIZE:
            raise SearchError(f"size must be between 1 and {MAX_SIZE}, got {self.size!r}")
        if not isinstance(self.districts, tuple) or not all(isinstance(d, str) and d for d in self.districts):
            raise SearchError(f"districts must be a tuple of district names, got {self.districts!r}")
        _aware(self.since, "since")
        _aware(self.until, "until")
        if self.since and self.until and self.until <= self.since:
            raise SearchError(f"until {self.until.isoformat()} is not after since {self.since.isoformat()}")
        object.__setattr__(self, "terms", parse_terms(text))
        object.__setattr__(self, "cursor", decode_cursor(self.after) if self.after is not None else None)

    @property
    def has_filter(self) -> bool:
        return bool(self.district or self.category or self.platform or self.since or self.until
                    or self.relevant_only)

    @property
    def matches_nothing(self) -> bool:
        """Text was given but held no word (only punctuation): it matches nothing, never everything."""
        return bool((self.text or "").strip()) and not self.terms


@dataclass(frozen=True)
class PostHit:
    post_id: str
    title: str | None
    snippet: str  # the start of the text, plain
    highlights: tuple[str, ...]  # HTML-escaped fragments, each match as <em>..</em>
    published_at: datetime
    platform: str
    district: str | None
    category: str | None


@dataclass(frozen=True)
class SearchPage:
    """One page of hits; `total` counts every match, `next_after` is None on the last page."""

    hits: tuple[PostHit, ...]
    total: int
    next_after: str | None


@dataclass(frozen=True)
class LeadHit:
    lead_id: str
    title: str
    status: str
    district: str | None
    category: str | None
    priority: float
    lat: float | None = None
    lon: float | None = None
    distance_m: float | None = None  # set by leads_near
    score: float | None = None  # set by candidate_leads: cosine similarity


@dataclass(frozen=True)
class TrendBucket:
    """How many relevant posts were published on `day` (UTC) in a district and category."""

    day: date
    district: str | None
    category: str | None
    count: int


def check_text(value: str, size: int) -> Terms:
    """The terms of a lead search's text, or a SearchError for text or size out of bounds."""
    if len(value or "") > MAX_TEXT:
        raise SearchError(f"query text is {len(value)} characters; at most {MAX_TEXT} are allowed")
    if not (value or "").strip():
        raise SearchError("empty query: give words to look for")
    if not 1 <= size <= MAX_SIZE:
        raise SearchError(f"size must be between 1 and {MAX_SIZE}, got {size!r}")
    return parse_terms(value)


def check_point(lat: float, lon: float, meters: float, size: int) -> None:
    if not (-90 <= lat <= 90 and -180 <= lon <= 180):
        raise SearchError(f"({lat}, {lon}) is not a latitude/longitude")
    if not meters > 0:
        raise SearchError(f"radius must be positive meters, got {meters}")
    if not 1 <= size <= MAX_SIZE:
        raise SearchError(f"size must be between 1 and {MAX_SIZE}, got {size!r}")


def snippet(text: str, length: int = 120) -> str:
    return text if len(text) <= length else text[:length] + "…"


def utc(value: datetime) -> datetime:
    return value.astimezone(timezone.utc)
