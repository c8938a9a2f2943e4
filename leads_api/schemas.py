"""What the API shows: public models, so storage fields never leak by accident."""
from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel

from core.models import EnrichedPost, Lead, LeadEvent, LeadStatus


class PriorityPartsPublic(BaseModel):
    urgency: float
    volume: float
    engagement: float
    spread: float
    recency: float
    velocity: float
    recurrence: float


class LeadPublic(BaseModel):
    id: str
    status: LeadStatus
    title: str
    category: str | None
    district: str | None
    street: str | None
    unit: str | None
    urgent: bool
    priority: float
    priority_parts: PriorityPartsPublic
    post_count: int
    platform_count: int
    first_seen: datetime
    last_seen: datetime
    version: int
    merged_into: str | None
    keywords: list[str]

    @classmethod
    def of(cls, lead: Lead) -> "LeadPublic":
        return cls(**{**lead.__dict__, "priority_parts": PriorityPartsPublic(**lead.priority_parts.__dict__)})


class LeadPage(BaseModel):
    total: int
    limit: int
    offset: int
    items: list[LeadPublic]


class PostPublic(BaseModel):
    # The author hash is not shown: analysts need the evidence, not a trackable identity.
    id: str
    platform: str
    url: str
    author: str
    title: str | None
    text: str
    published_at: datetime
    likes: int
    comments: int
    shares: int
    views: int
    geotag: str | None
    media: list[str]
    reposted_id: str | None
    relevance_score: float
    category: str | None
    district: str | None
    street: str | None
    urgent: bool
    reasons: list[str]

    @classmethod
    def of(cls, ep: EnrichedPost) -> "PostPublic":
        p, e = ep.post, ep.enrichment
        return cls(id=p.id, platform=p.platform, url=p.url, author=p.author_name, title=p.title,
                   text=p.text, published_at=p.published_at, likes=p.engagement.likes,
                   comments=p.engagement.comments, shares=p.engagement.shares,
                   views=p.engagement.views, geotag=p.geotag, media=list(p.media),
                   reposted_id=p.reposted_id, relevance_score=e.relevance_score,
                   category=e.category, district=e.district, street=e.street, urgent=e.urgent,
                   reasons=list(e.reasons))


class LeadEventPublic(BaseModel):
    kind: str
    actor: str
    at: datetime
    detail: dict

    @classmethod
    def of(cls, e: LeadEvent) -> "LeadEventPublic":
        return cls(kind=e.kind, actor=e.actor, at=e.at, detail=e.detail)


class LeadDetail(LeadPublic):
    posts: list[PostPublic]
    events: list[LeadEventPublic]


class Problem(BaseModel):
    param: str
    message: str


class ErrorBody(BaseModel):
    error: str
    problems: list[Problem] = []


class Health(BaseModel):
    status: str
    database: str
    leads: int
