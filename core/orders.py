"""Work orders: what a verified lead becomes when it is dispatched, and how the work-order
system's answers move it.

An order is written in the same unit of work as the lead's dispatch, with an outbox row, so a
lead is dispatched if and only if its order will be delivered. The order id is also the
idempotency key every target sends, so an at-least-once delivery files exactly one order.

Statuses come back from the receiver out of order and more than once: each update carries the
receiver's time, updates are deduplicated by their id, and an older update never overwrites a
newer one, so the order converges on the receiver's latest status whatever the arrival order.
"""
from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field
from datetime import datetime
from enum import StrEnum


class OrderStatus(StrEnum):
    DISPATCHED = "dispatched"    # written, in the outbox or delivered, no answer yet
    ACCEPTED = "accepted"        # the receiving unit took it
    IN_PROGRESS = "in_progress"
    RESOLVED = "resolved"        # the unit says it is fixed
    CLOSED = "closed"            # done for good (after the resolution was confirmed)
    RETURNED = "returned"        # 退单: sent to the wrong unit; waits for an analyst to re-route
    REOPENED = "reopened"        # 不满意重办: the problem is still there


class DeliveryState(StrEnum):
    PENDING = "pending"          # in the outbox, due at next_attempt_at
    DELIVERED = "delivered"      # the receiver acknowledged it (remote id known)
    DEAD = "dead"                # gave up after max attempts; an analyst may retry


# An order is live (the lead's one order) until it is closed; a returned order goes out again.
LIVE = frozenset(OrderStatus) - {OrderStatus.CLOSED}
OPEN_FOR_LINKING = frozenset({OrderStatus.DISPATCHED, OrderStatus.ACCEPTED, OrderStatus.IN_PROGRESS,
                              OrderStatus.REOPENED})


@dataclass(frozen=True)
class Evidence:
    """One post as the analyst saw it when dispatching; frozen with its content hash."""

    post_id: str
    platform: str
    url: str
    title: str | None
    text: str
    published_at: str  # ISO 8601
    likes: int
    comments: int
    shares: int
    views: int
    media: tuple[str, ...] = ()
    content_hash: str = ""
    # The post was forgotten (core.forget): text, title, url and media are emptied, the
    # content hash (and so the order's evidence hash) stays as it was frozen.
    redacted: bool = False

    @classmethod
    def of(cls, **values) -> "Evidence":
        ev = cls(**{**values, "content_hash": ""})
        return cls(**{**values, "content_hash": ev.digest()})

    def digest(self) -> str:
        body = {k: v for k, v in asdict(self).items() if k not in ("content_hash", "redacted")}
        return hashlib.sha256(json.dumps(body, ensure_ascii=False, sort_keys=True).encode()).hexdigest()


@dataclass(frozen=True)
class Place:
    district: str | None = None
    street: str | None = None
    community: str | None = None
    address: str | None = None
    lat: float | None = None
    lon: float | None = None


@dataclass(frozen=True)
class WorkOrder:
    """A proactive work order. `id` is stable and is the idempotency key of every delivery."""

    id: str
    lead_id: str
    status: OrderStatus
    target: str                   # the delivery target's name (config/delivery.yaml)
    title: str
    description: str
    category: str | None
    item: str | None              # the catalogue item: Open311 service_code
    item_name: str | None
    unit: str | None
    urgent: bool
    dispatch_minutes: int | None
    resolution_hours: int | None
    due_at: datetime | None       # resolution deadline: past it, the order is overdue (督办)
    place: Place
    evidence: tuple[Evidence, ...]
    created_at: datetime
    created_by: str
    updated_at: datetime
    delivery: DeliveryState = DeliveryState.PENDING
    attempts: int = 0
    remote_id: str | None = None   # the receiver's id (Open311 service_request_id)
    remote_token: str | None = None  # an Open311 token not yet turned into an id
    status_at: datetime | None = None  # the receiver's time of the status we hold
    status_reason: str | None = None
    sends: int = 1                 # how many times the order was filed (re-sent after a return)
    last_error: str | None = None
    version: int = 1

    @property
    def evidence_hash(self) -> str:
        return hashlib.sha256("".join(e.content_hash for e in self.evidence).encode()).hexdigest()

    def payload(self) -> dict:
        """The order as every target sends it (JSON): fields named for the receiver, not for our tables."""
        return {"order_id": self.id, "lead_id": self.lead_id, "send": self.sends, "title": self.title,
                "description": self.description, "category": self.category, "item": self.item,
                "item_name": self.item_name, "unit": self.unit, "urgent": self.urgent,
                "dispatch_minutes": self.dispatch_minutes, "resolution_hours": self.resolution_hours,
                "due_at": self.due_at.isoformat() if self.due_at else None, "place": asdict(self.place),
                "evidence": [asdict(e) for e in self.evidence], "evidence_hash": self.evidence_hash,
                "created_at": self.created_at.isoformat()}


@dataclass(frozen=True)
class StatusUpdate:
    """One status answer from the receiver. `update_id` deduplicates (a callback sent twice);
    `at` orders (a late callback never overwrites a newer status)."""

    order_id: str
    status: OrderStatus
    at: datetime
    update_id: str
    source: str            # open311 | webhook | pull
    reason: str | None = None
    unit: str | None = None  # the unit a returned order says it belongs to, when it says
    detail: dict = field(default_factory=dict)


def order_id_for(lead_id: str, n: int = 1) -> str:
    """The lead's n-th order id: stable, so a crashed dispatch retried files the same order
    (a lead has a second order only after its first one closed)."""
    key = f"order:{lead_id}" if n == 1 else f"order:{lead_id}:{n}"
    return "WO" + hashlib.sha1(key.encode()).hexdigest()[:14].upper()


def applies(current_at: datetime | None, update: StatusUpdate) -> bool:
    """Whether an update is newer than the status held (ties: not applied, they are repeats)."""
    return current_at is None or update.at > current_at


EVIDENCE_POSTS = 100  # the newest posts frozen into an order; a lead's first posts are kept too
LINK_METERS = 300.0


def build_order(order_id: str, lead, posts, *, target: str, actor: str, now: datetime,
                item_name: str | None = None) -> WorkOrder:
    """The order for a verified lead from the lead as the analyst confirmed it and its posts
    (`EnrichedPost`s) as they are now: the evidence is frozen here, later edits or deletions of
    the posts do not reach it."""
    from collections import Counter
    from datetime import timedelta

    ordered = sorted(posts, key=lambda ep: (ep.post.published_at, ep.id))
    if len(ordered) > EVIDENCE_POSTS:
        ordered = ordered[:10] + ordered[-(EVIDENCE_POSTS - 10):]
    evidence = tuple(Evidence.of(post_id=ep.id, platform=ep.post.platform, url=ep.post.url, title=ep.post.title,
                                 text=ep.post.text, published_at=ep.post.published_at.isoformat(),
                                 likes=ep.post.engagement.likes, comments=ep.post.engagement.comments,
                                 shares=ep.post.engagement.shares, views=ep.post.engagement.views,
                                 media=tuple(ep.post.media)) for ep in ordered)

    def most(values):
        c = Counter(v for v in values if v is not None)
        return c.most_common(1)[0][0] if c else None

    points = [(ep.enrichment.lat, ep.enrichment.lon) for ep in posts
              if ep.enrichment.lat is not None and ep.enrichment.location_precision == "place"]
    lat, lon = most(points) or (None, None)
    community = most(ep.enrichment.community for ep in posts if ep.enrichment.district == lead.district)
    address = "".join(x for x in (lead.district, lead.street, community) if x) or None
    lines = [lead.title, "", f"线索 {lead.id}：{lead.post_count} 条帖子，{lead.platform_count} 个平台，"
             f"首次 {lead.first_seen.isoformat(timespec='minutes')}，最近 {lead.last_seen.isoformat(timespec='minutes')}"]
    if lead.keywords:
        lines.append("关键词：" + "、".join(lead.keywords[:8]))
    lines += [f"- {e.text[:200]}" for e in evidence[:3]]
    due = now + timedelta(hours=lead.resolution_hours) if lead.resolution_hours else None
    return WorkOrder(id=order_id, lead_id=lead.id, status=OrderStatus.DISPATCHED, target=target, title=lead.title,
                     description="\n".join(lines), category=lead.category, item=lead.item, item_name=item_name,
                     unit=lead.unit, urgent=lead.urgent, dispatch_minutes=lead.dispatch_minutes,
                     resolution_hours=lead.resolution_hours, due_at=due,
                     place=Place(lead.district, lead.street, community, address, lat, lon), evidence=evidence,
                     created_at=now, created_by=actor, updated_at=now)


def same_place(order: WorkOrder, place: Place) -> bool:
    """Whether an open order is about the same place: within LINK_METERS when both have a
    point, else the same street and community (a district alone is too coarse)."""
    import math
    a = order.place
    if a.lat is not None and place.lat is not None:
        dy = (a.lat - place.lat) * 111_320
        dx = (a.lon - place.lon) * 111_320 * math.cos(math.radians(place.lat))
        return math.hypot(dx, dy) <= LINK_METERS
    if a.district != place.district or not a.street or a.street != place.street:
        return False
    return bool(a.community) and a.community == place.community
