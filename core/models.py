"""The domain model: what flows between stages and what the store keeps.

Frozen dataclasses so a stage cannot mutate what another stage handed it; every stage
builds new values and upserts them.
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta, timezone
from enum import StrEnum

import numpy as np


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


def require_aware(value: datetime, name: str) -> datetime:
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"{name} must be timezone-aware, got naive {value.isoformat()}")
    return value


def hash_author(author_id: str, salt: str) -> str:
    """Authors are stored only as a salted hash: the desk needs 'same person', not who."""
    return hashlib.sha256(f"{salt}\x00{author_id}".encode()).hexdigest()[:24]


@dataclass(frozen=True)
class Window:
    """Half-open time interval [start, end) a stage works on."""

    start: datetime
    end: datetime

    def __post_init__(self) -> None:
        require_aware(self.start, "window.start")
        require_aware(self.end, "window.end")
        if self.end <= self.start:
            raise ValueError(f"window end {self.end} is not after start {self.start}")

    @classmethod
    def last(cls, days: float, end: datetime | None = None) -> "Window":
        end = end or utcnow()
        return cls(end - timedelta(days=days), end)

    @classmethod
    def everything(cls) -> "Window":
        return cls(datetime(1970, 1, 1, tzinfo=timezone.utc), datetime(2200, 1, 1, tzinfo=timezone.utc))


@dataclass(frozen=True)
class Engagement:
    likes: int = 0
    comments: int = 0
    shares: int = 0
    views: int = 0

    @property
    def total(self) -> int:
        return self.likes + self.comments + self.shares


@dataclass(frozen=True)
class Post:
    """One crawled post. `id` is `platform:native_id` and never changes."""

    platform: str
    native_id: str
    url: str
    author_hash: str
    author_name: str
    title: str | None
    text: str
    published_at: datetime
    crawled_at: datetime
    engagement: Engagement = field(default_factory=Engagement)
    geotag: str | None = None
    media: tuple[str, ...] = ()
    reposted_id: str | None = None  # full post id of the original, itself a post

    def __post_init__(self) -> None:
        if not self.platform or ":" in self.platform:
            raise ValueError(f"invalid platform name {self.platform!r}")
        if not self.native_id:
            raise ValueError("native_id is empty")
        require_aware(self.published_at, "published_at")
        require_aware(self.crawled_at, "crawled_at")

    @property
    def id(self) -> str:
        return f"{self.platform}:{self.native_id}"

    @property
    def full_text(self) -> str:
        return f"{self.title}\n{self.text}" if self.title else self.text


# Kinds of detail address within a place (enrichment.spots), compared kind by kind: two posts
# naming different buildings of one estate are about different spots.
DETAIL_KINDS = ("building", "unit", "exit", "gate", "lane", "number", "section", "venue")


@dataclass(frozen=True)
class Enrichment:
    """What the enrich stage concluded about one post, with its reasons."""

    post_id: str
    normalized_text: str
    relevant: bool
    relevance_score: float
    category: str | None
    district: str | None
    street: str | None
    urgent: bool = False
    reasons: tuple[str, ...] = ()
    language: str = "zh"
    text_hash: str = ""
    # What: the catalogue item (config/catalogue.yaml) within `category`, and how sure.
    item: str | None = None
    item_name: str | None = None
    category_confidence: float = 0.0
    urgency_reasons: tuple[str, ...] = ()
    # Where: city is another city's name when the post is about a place outside ours.
    city: str | None = None
    community: str | None = None
    lat: float | None = None
    lon: float | None = None
    location_precision: str = "none"  # place | street | district | city | outside | none
    location_confidence: float = 0.0
    location_spans: tuple[tuple[int, int], ...] = ()  # in normalized_text
    # Whose job and by when (config/duties.yaml, config/implementation.yaml).
    unit: str | None = None
    duty_rule: str | None = None
    process: str | None = None
    dispatch_minutes: int | None = None
    resolution_hours: int | None = None
    # Where exactly (enrichment.spots): the named place, even one no gazetteer holds, its
    # identity key, and the detail address within it as (kind, value) pairs.
    place_name: str | None = None
    place_key: str | None = None
    place_detail: tuple[tuple[str, str], ...] = ()
    # The catalogue keywords the text holds (美容院, 跑路), the deciding category's first: what
    # the post is about.
    what_terms: tuple[str, ...] = ()
    # Which category model decided (its registry version), None when the keyword rules did.
    category_model: str | None = None


@dataclass(frozen=True)
class EnrichedPost:
    """A post joined with its enrichment: the cluster stage's input."""

    post: Post
    enrichment: Enrichment

    @property
    def id(self) -> str:
        return self.post.id


class LeadStatus(StrEnum):
    """Where a lead stands. The clusterer writes new, closed and merged; analysts move a lead
    through in_review (claimed) to verified, rejected or merged; delivery makes it dispatched.
    Which moves are allowed lives in core.triage."""

    NEW = "new"
    IN_REVIEW = "in_review"
    VERIFIED = "verified"
    REJECTED = "rejected"
    DISPATCHED = "dispatched"
    CLOSED = "closed"
    MERGED = "merged"


@dataclass(frozen=True)
class PriorityParts:
    urgency: float = 0.0
    volume: float = 0.0
    engagement: float = 0.0
    spread: float = 0.0
    recency: float = 0.0
    velocity: float = 0.0    # last day's posts per hour against the lead's own lifetime rate
    recurrence: float = 0.0  # how often the problem came back after its lead closed


@dataclass(frozen=True)
class Lead:
    """One real problem, however many posts describe it. The id is stable for life."""

    id: str
    status: LeadStatus
    title: str
    category: str | None
    district: str | None
    street: str | None
    unit: str | None
    urgent: bool
    priority: float
    priority_parts: PriorityParts
    post_count: int
    platform_count: int
    first_seen: datetime
    last_seen: datetime
    version: int = 1
    merged_into: str | None = None
    updated_at: datetime | None = None
    keywords: tuple[str, ...] = ()
    # Triage (core.triage): what the catalogue item is, when the SLA clock started and ends,
    # who holds the review lock until when, and which fields an analyst decided (the
    # clusterer recomputes every other field as posts join, never these).
    item: str | None = None
    detected_at: datetime | None = None
    sla_due_at: datetime | None = None
    dispatch_minutes: int | None = None
    resolution_hours: int | None = None
    claimed_by: str | None = None
    claim_expires_at: datetime | None = None
    reject_reason: str | None = None
    rejected_post_count: int | None = None
    review_reason: str | None = None
    dispatched_at: datetime | None = None
    confirmed: tuple[str, ...] = ()

    def locked_by_other(self, username: str, now: datetime) -> bool:
        return (self.claimed_by is not None and self.claimed_by != username
                and self.claim_expires_at is not None and self.claim_expires_at > now)


@dataclass(frozen=True)
class LeadTally:
    """A lead's members summed up: what its fields and priority are computed from, so a lead
    grows without its members being read back. `recent` holds the publish times of members
    from the day before the latest tally (velocity needs no more); count maps are value ->
    members."""

    posts: int
    engagement: int
    first_seen: datetime
    last_seen: datetime
    urgent: bool
    recent: tuple[datetime, ...]
    platforms: frozenset[str]
    categories: dict[str, int]
    districts: dict[str, int]
    streets: dict[tuple[str, str], int]  # (district, street)
    places: dict[tuple[float, float], int]  # the points of places members name
    spots: dict[str, int] = field(default_factory=dict)  # place keys members name
    details: dict[str, int] = field(default_factory=dict)  # "kind:value" details members name
    terms: dict[str, int] = field(default_factory=dict)  # catalogue keywords members were read from

    def plus(self, other: "LeadTally") -> "LeadTally":
        def add(a: dict, b: dict) -> dict:
            out = dict(a)
            for k, v in b.items():
                out[k] = out.get(k, 0) + v
            return out
        return LeadTally(self.posts + other.posts, self.engagement + other.engagement,
                         min(self.first_seen, other.first_seen), max(self.last_seen, other.last_seen),
                         self.urgent or other.urgent, tuple(sorted(self.recent + other.recent)),
                         self.platforms | other.platforms, add(self.categories, other.categories),
                         add(self.districts, other.districts), add(self.streets, other.streets),
                         add(self.places, other.places), add(self.spots, other.spots),
                         add(self.details, other.details), add(self.terms, other.terms))

    def since(self, start: datetime) -> "LeadTally":
        """The same tally with `recent` cut to members published at or after `start`."""
        return replace(self, recent=tuple(t for t in self.recent if t >= start))


@dataclass(frozen=True)
class LeadProfile:
    """What the clusterer compares new posts with: the centroid of a lead's member vectors as
    sparse (feature index, weight) arrays, and how many members it averages."""

    lead_id: str
    members: int
    features: np.ndarray  # int32 indices
    weights: np.ndarray  # float32, same length
    lat: float | None = None  # the place most of its members name, when they name one
    lon: float | None = None
    tally: LeadTally | None = None  # None for profiles written before tallies were kept
    representative: str | None = None  # the member post closest to the centroid: the title's source
    embedding: np.ndarray | None = None  # float32 mean of the members' embeddings (None: not kept)
    embedding_model: str | None = None  # the embedder's name those embeddings came from
    place_key: str | None = None  # the place most members name (enrichment.spots), the lookup key


@dataclass(frozen=True)
class StageState:
    """A stage's state carried between runs; `version` guards against two writers."""

    name: str
    version: int
    count: int
    payload: bytes


@dataclass(frozen=True)
class LeadEvent:
    """Append-only audit of a lead: who did what, when, with what detail."""

    lead_id: str
    kind: str  # created | posts_added | merged | split | status_changed | rescored
    actor: str
    at: datetime
    detail: dict = field(default_factory=dict)
    id: int | None = None


@dataclass(frozen=True)
class Checkpoint:
    """Where a crawl of (platform, query) stands.

    `high_water` is the newest item fully crawled in a finished run; `cursor` is the next page
    of a run in progress (None when no run is in progress), so a killed crawl resumes there.
    """

    platform: str
    query: str
    high_water: str | None = None
    cursor: str | None = None
    pending_high_water: str | None = None
    updated_at: datetime | None = None


@dataclass(frozen=True)
class CrawlRun:
    """Coverage record of one crawl of (platform, query)."""

    platform: str
    query: str
    started_at: datetime
    finished_at: datetime
    status: str  # ok | error | blocked | partial
    pages: int = 0
    posts_new: int = 0
    posts_updated: int = 0
    errors: dict[str, int] = field(default_factory=dict)
    blocked_reason: str | None = None
    alarms: list[str] = field(default_factory=list)  # "kind: message" (parser_broken, circuit_open, ...)
    posts_skipped: int = 0  # deleted/blocked placeholders seen, never stored as posts

    @property
    def seconds(self) -> float:
        return (self.finished_at - self.started_at).total_seconds()


@dataclass(frozen=True)
class StageRun:
    stage: str
    window: Window
    started_at: datetime
    finished_at: datetime
    counts: dict[str, int] = field(default_factory=dict)

    @property
    def seconds(self) -> float:
        return (self.finished_at - self.started_at).total_seconds()


@dataclass(frozen=True)
class UpsertResult:
    new: int = 0
    updated: int = 0
    unchanged: int = 0


@dataclass(frozen=True)
class User:
    """A person (or machine) at the desk. `districts` empty means every district; the role's
    names are core.triage.Role values. Hashes never leave the store's users repository."""

    id: int
    username: str
    display_name: str
    role: str
    districts: tuple[str, ...] = ()
    disabled: bool = False
    created_at: datetime | None = None
    last_login_at: datetime | None = None


@dataclass(frozen=True)
class TriageLabel:
    """One analyst decision as a training example."""

    lead_id: str
    action: str
    text: str
    model: dict        # what the models said (category, item, unit, relevant, urgent)
    decision: dict     # what the analyst decided
    actor: str
    at: datetime
    model_version: str | None = None
    id: int | None = None


@dataclass(frozen=True)
class SlaBreach:
    lead_id: str
    due_at: datetime
    recorded_at: datetime
    status: str
    category: str | None
    district: str | None
    urgent: bool
    claimed_by: str | None = None
