"""What the API shows: public models, so storage fields never leak by accident."""
from __future__ import annotations

import functools
from datetime import date, datetime

from typing import Annotated, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, StringConstraints

from core.models import EnrichedPost, Lead, LeadEvent, LeadStatus, User
from core.triage import REJECT_REASONS


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
    item: str | None = None
    detected_at: datetime | None = None
    sla_due_at: datetime | None = None
    sla_seconds_left: float | None = Field(None, description="until the dispatch deadline; negative: breached; "
                                           "null: no clock runs (rejected, merged, dispatched, closed)")
    dispatch_minutes: int | None = None
    resolution_hours: int | None = None
    claimed_by: str | None = Field(None, description="who holds the review lock (while it lasts)")
    claim_expires_at: datetime | None = None
    reject_reason: str | None = None
    review_reason: str | None = Field(None, description="why the lead came back to review")
    dispatched_at: datetime | None = None
    confirmed: list[str] = Field([], description="fields an analyst decided; the clusterer keeps them")

    @classmethod
    @functools.cache
    def _lead_fields(cls) -> tuple[str, ...]:
        """The lead's attributes this model shows (read once: `cls.model_fields` is slow to
        reach, and the queue serializes hundreds of leads a second)."""
        return tuple(k for k in cls.model_fields if k in Lead.__dataclass_fields__)

    @classmethod
    def of(cls, lead: Lead, now: datetime | None = None) -> "LeadPublic":
        from core.models import utcnow
        from core.sla import seconds_left
        now = now or utcnow()
        live = lead.claim_expires_at is not None and lead.claim_expires_at > now
        attrs = lead.__dict__
        fields = {k: attrs[k] for k in cls._lead_fields()}
        return cls(**{**fields, "priority_parts": PriorityPartsPublic(**lead.priority_parts.__dict__),
                      "sla_seconds_left": seconds_left(lead, now),
                      "claimed_by": lead.claimed_by if live else None,
                      "claim_expires_at": lead.claim_expires_at if live else None,
                      "confirmed": list(lead.confirmed)})


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
    lead_id: str
    kind: str
    actor: str
    at: datetime
    detail: dict

    @classmethod
    def of(cls, e: LeadEvent) -> "LeadEventPublic":
        return cls(lead_id=e.lead_id, kind=e.kind, actor=e.actor, at=e.at, detail=e.detail)


class LeadDetail(LeadPublic):
    posts: list[PostPublic]
    events: list[LeadEventPublic]


class Problem(BaseModel):
    param: str
    message: str


class ErrorBody(BaseModel):
    error: str
    code: str | None = Field(None, description="stale | locked | invalid_transition | invalid_action | forbidden | "
                             "not_found | unauthenticated | invalid_request")
    problems: list[Problem] = []
    current: LeadPublic | None = Field(None, description="the lead as it is now (409 answers)")


# --- actions -----------------------------------------------------------------------------------

Note = Annotated[str, StringConstraints(max_length=2000)]
LeadId = Annotated[str, StringConstraints(pattern=r"^L[0-9a-f]{12}$")]


class ActionBase(BaseModel):
    """Every action names the lead version it saw; a stale one is answered 409 with the lead now."""

    model_config = ConfigDict(extra="forbid")
    version: int = Field(ge=1, le=2**31 - 1, description="the lead's version the analyst saw")
    note: Note | None = None


class ClaimRequest(ActionBase):
    force: bool = Field(False, description="supervisors: break another analyst's lock")


class CorrectionFields(ActionBase):
    category: Annotated[str, StringConstraints(min_length=1, max_length=100)] | None = None
    item: Annotated[str, StringConstraints(pattern=r"^[A-Z]{2}[0-9]{3}$")] | None = None
    dispatch_minutes: int | None = Field(None, ge=1, le=60 * 24 * 30)
    resolution_hours: int | None = Field(None, ge=1, le=24 * 365)


class VerifyRequest(CorrectionFields):
    unit: Annotated[str, StringConstraints(min_length=1, max_length=200)] | None = None
    dispatch: bool = Field(False, description="verify and dispatch in one step: the work order is filed at once")


class RecategorizeRequest(CorrectionFields):
    pass


class RerouteRequest(ActionBase):
    unit: Annotated[str, StringConstraints(min_length=1, max_length=200)] | None = None
    district: Annotated[str, StringConstraints(min_length=1, max_length=50)] | None = None


RejectReason = Literal[tuple(REJECT_REASONS)]  # type: ignore[valid-type]


class RejectRequest(ActionBase):
    reason: RejectReason  # type: ignore[valid-type]


class NoteRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    version: int | None = Field(None, ge=1, le=2**31 - 1)
    note: Annotated[str, StringConstraints(min_length=1, max_length=2000)]


class MergeRequest(ActionBase):
    other_id: LeadId
    other_version: int = Field(ge=1, le=2**31 - 1)


class SplitRequest(ActionBase):
    post_ids: list[Annotated[str, StringConstraints(min_length=3, max_length=200)]] = Field(min_length=1, max_length=500)


class BulkItem(BaseModel):
    model_config = ConfigDict(extra="forbid")
    id: LeadId
    version: int = Field(ge=1, le=2**31 - 1)


class BulkRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    action: Literal["verify", "reject"]
    items: list[BulkItem] = Field(min_length=1, max_length=200)
    reason: RejectReason | None = None  # type: ignore[valid-type]
    note: Note | None = None


class BulkResultPublic(BaseModel):
    id: str
    ok: bool
    status: int
    error: str | None = None
    lead: LeadPublic | None = None


class BulkResponse(BaseModel):
    results: list[BulkResultPublic]


class SplitResponse(BaseModel):
    lead: LeadPublic
    new_lead: LeadPublic


class AuditPage(BaseModel):
    items: list[LeadEventPublic]


# --- users -------------------------------------------------------------------------------------

class LoginRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    username: Annotated[str, StringConstraints(min_length=1, max_length=64)]
    password: Annotated[str, StringConstraints(min_length=1, max_length=1000)]


class UserPublic(BaseModel):
    username: str
    display_name: str
    role: str
    districts: list[str]
    disabled: bool

    @classmethod
    def of(cls, u: User) -> "UserPublic":
        return cls(username=u.username, display_name=u.display_name, role=u.role, districts=list(u.districts),
                   disabled=u.disabled)


class UserCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    username: Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")]
    role: Literal["analyst", "supervisor", "admin", "integration"]
    password: Annotated[str, StringConstraints(min_length=10, max_length=1000)] | None = None
    display_name: Annotated[str, StringConstraints(min_length=1, max_length=100)] | None = None
    districts: list[Annotated[str, StringConstraints(min_length=1, max_length=50)]] = Field([], max_length=20)


class DeskStats(BaseModel):
    statuses: dict[str, int]
    breaches_today: int
    throughput: dict[str, dict[str, int]]
    spikes: list[dict]


class Health(BaseModel):
    status: str
    database: str
    leads: int


# --- work orders -------------------------------------------------------------------------------

class EvidencePublic(BaseModel):
    post_id: str
    platform: str
    url: str
    title: str | None
    text: str
    published_at: str
    likes: int
    comments: int
    shares: int
    views: int
    media: list[str]
    content_hash: str


class WorkOrderPublic(BaseModel):
    id: str
    lead_id: str
    status: str
    delivery: str = Field(description="pending | delivered | dead (an analyst may retry a dead order)")
    target: str
    title: str
    description: str
    category: str | None
    item: str | None
    item_name: str | None
    unit: str | None
    urgent: bool
    dispatch_minutes: int | None
    resolution_hours: int | None
    due_at: datetime | None
    district: str | None
    street: str | None
    community: str | None
    address: str | None
    lat: float | None
    lon: float | None
    evidence: list[EvidencePublic]
    evidence_hash: str
    created_at: datetime
    created_by: str
    updated_at: datetime
    attempts: int
    remote_id: str | None
    status_at: datetime | None
    status_reason: str | None
    sends: int
    last_error: str | None

    @classmethod
    def of(cls, o) -> "WorkOrderPublic":
        from dataclasses import asdict
        return cls(id=o.id, lead_id=o.lead_id, status=o.status.value, delivery=o.delivery.value, target=o.target,
                   title=o.title, description=o.description, category=o.category, item=o.item, item_name=o.item_name,
                   unit=o.unit, urgent=o.urgent, dispatch_minutes=o.dispatch_minutes,
                   resolution_hours=o.resolution_hours, due_at=o.due_at, **asdict(o.place),
                   evidence=[EvidencePublic(**{**asdict(e), "media": list(e.media)}) for e in o.evidence],
                   evidence_hash=o.evidence_hash, created_at=o.created_at, created_by=o.created_by,
                   updated_at=o.updated_at, attempts=o.attempts, remote_id=o.remote_id, status_at=o.status_at,
                   status_reason=o.status_reason, sends=o.sends, last_error=o.last_error)


class StatusUpdatePublic(BaseModel):
    status: str
    at: datetime
    update_id: str
    source: str
    reason: str | None
    unit: str | None
    applied: bool


class WorkOrderDetail(WorkOrderPublic):
    leads: list[str]
    updates: list[StatusUpdatePublic]


class WorkOrderPage(BaseModel):
    total: int
    limit: int
    offset: int
    items: list[WorkOrderPublic]


class ChangesPage(BaseModel):
    cursor: str = Field(description="opaque; send it back to read what changed since")
    items: list[WorkOrderPublic]


class DispatchRequest(ActionBase):
    pass


class ResendRequest(ActionBase):
    unit: Annotated[str, StringConstraints(min_length=1, max_length=200)]


class DispatchResponse(BaseModel):
    lead: LeadPublic
    order: WorkOrderPublic


class StatusCallback(BaseModel):
    """A status answer from the work-order system (signed webhook callback or a pull integration)."""

    model_config = ConfigDict(extra="ignore")
    order_id: Annotated[str, StringConstraints(pattern=r"^WO[0-9A-F]{14}$")] | None = None
    remote_id: Annotated[str, StringConstraints(max_length=100)] | None = None
    status: Literal["accepted", "in_progress", "resolved", "closed", "returned", "reopened"]
    at: AwareDatetime
    update_id: Annotated[str, StringConstraints(min_length=1, max_length=200)]
    reason: Annotated[str, StringConstraints(max_length=2000)] | None = None
    unit: Annotated[str, StringConstraints(max_length=200)] | None = None


class StatusAck(BaseModel):
    order_id: str
    applied: bool
    status: str


class PostHitPublic(BaseModel):
    """A post found by search; `highlights` are HTML-escaped fragments with each match in <em>."""

    post_id: str
    title: str | None
    snippet: str
    highlights: list[str]
    published_at: datetime
    platform: str
    district: str | None
    category: str | None


class PostSearchPage(BaseModel):
    total: int
    items: list[PostHitPublic]
    next_after: str | None = Field(description="pass as `after` for the next page; null on the last page")


class LeadHitPublic(BaseModel):
    lead_id: str
    title: str
    status: str
    district: str | None
    category: str | None
    priority: float
    distance_m: float | None = None


class TrendBucketPublic(BaseModel):
    """Relevant posts published on one UTC day in a district and category."""

    day: date
    district: str | None
    category: str | None
    count: int
