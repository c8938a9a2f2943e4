"""Domain objects to table rows and back, and the content hash a re-crawl is compared by."""
from __future__ import annotations

import hashlib
import json
import logging
from dataclasses import asdict
from datetime import datetime, timezone

import numpy as np

from core.models import (Engagement, Enrichment, Lead, LeadEvent, LeadProfile, LeadStatus, LeadTally, Post,
                         PriorityParts, utcnow)
from core.store.errors import StoreError

log = logging.getLogger(__name__)


def content_hash(post: Post) -> str:
    """Hash of what a re-crawl may change; equal hashes mean nothing new to store."""
    # UTC, because a post read back from the store must hash as it did when crawled (+08:00).
    published = post.published_at.astimezone(timezone.utc).isoformat()
    parts = [post.url, post.author_name, post.title or "", post.text, published,
             json.dumps(asdict(post.engagement), sort_keys=True), post.geotag or "",
             "|".join(post.media), post.reposted_id or ""]
    return hashlib.sha1("\x1f".join(parts).encode()).hexdigest()


def post_row(p: Post, h: str, now: datetime) -> dict:
    return {"id": p.id, "platform": p.platform, "native_id": p.native_id, "url": p.url,
            "author_hash": p.author_hash, "author_name": p.author_name, "title": p.title,
            "text": p.text, "published_at": p.published_at, "crawled_at": p.crawled_at,
            "likes": p.engagement.likes, "comments": p.engagement.comments,
            "shares": p.engagement.shares, "views": p.engagement.views, "geotag": p.geotag,
            "media": list(p.media), "reposted_id": p.reposted_id, "content_hash": h,
            "stored_at": now}


def post_from_row(r) -> Post:
    return Post(platform=r.platform, native_id=r.native_id, url=r.url, author_hash=r.author_hash,
                author_name=r.author_name, title=r.title, text=r.text,
                published_at=r.published_at, crawled_at=r.crawled_at,
                engagement=Engagement(r.likes, r.comments, r.shares, r.views),
                geotag=r.geotag, media=tuple(r.media or ()), reposted_id=r.reposted_id)


def enrichment_row(p: Post, e: Enrichment, now: datetime) -> dict:
    if p.id != e.post_id:
        raise ValueError(f"enrichment for {e.post_id} paired with post {p.id}")
    return {"post_id": e.post_id, "normalized_text": e.normalized_text, "relevant": e.relevant,
            "relevance_score": e.relevance_score, "category": e.category, "district": e.district,
            "street": e.street, "urgent": e.urgent, "reasons": list(e.reasons),
            "language": e.language, "text_hash": e.text_hash, "source_hash": content_hash(p),
            "enriched_at": now, "item": e.item, "item_name": e.item_name,
            "category_confidence": e.category_confidence, "urgency_reasons": list(e.urgency_reasons),
            "city": e.city, "community": e.community, "lat": e.lat, "lon": e.lon,
            "location_precision": e.location_precision, "location_confidence": e.location_confidence,
            "location_spans": [list(s) for s in e.location_spans], "unit": e.unit,
            "duty_rule": e.duty_rule, "process": e.process, "dispatch_minutes": e.dispatch_minutes,
            "resolution_hours": e.resolution_hours, "place_name": e.place_name, "place_key": e.place_key,
            "place_detail": [list(d) for d in e.place_detail] or None, "category_model": e.category_model,
            "what_terms": list(e.what_terms) or None}


def enrichment_from_row(r) -> Enrichment:
    return Enrichment(post_id=r.post_id, normalized_text=r.normalized_text, relevant=r.relevant,
                      relevance_score=r.relevance_score, category=r.category, district=r.district,
                      street=r.street, urgent=r.urgent, reasons=tuple(r.reasons),
                      language=r.language, text_hash=r.text_hash, item=r.item, item_name=r.item_name,
                      category_confidence=r.category_confidence or 0.0,
                      urgency_reasons=tuple(r.urgency_reasons or ()), city=r.city,
                      community=r.community, lat=r.lat, lon=r.lon,
                      location_precision=r.location_precision or "none",
                      location_confidence=r.location_confidence or 0.0,
                      location_spans=tuple(tuple(s) for s in (r.location_spans or ())),
                      unit=r.unit, duty_rule=r.duty_rule, process=r.process,
                      dispatch_minutes=r.dispatch_minutes, resolution_hours=r.resolution_hours,
                      place_name=r.place_name, place_key=r.place_key, place_detail=tuple((str(k), str(v)) for k, v in (r.place_detail or ())),
                      category_model=r.category_model, what_terms=tuple(r.what_terms or ()))


def lead_row(lead: Lead) -> dict:
    return {"id": lead.id, "status": lead.status.value, "title": lead.title,
            "category": lead.category, "district": lead.district, "street": lead.street,
            "unit": lead.unit, "urgent": lead.urgent, "priority": lead.priority,
            "priority_parts": asdict(lead.priority_parts), "post_count": lead.post_count,
            "platform_count": lead.platform_count, "first_seen": lead.first_seen,
            "last_seen": lead.last_seen, "version": lead.version, "merged_into": lead.merged_into, "keywords": list(lead.keywords),
            "updated_at": utcnow(), "item": lead.item, "detected_at": lead.detected_at,
            "sla_due_at": lead.sla_due_at, "dispatch_minutes": lead.dispatch_minutes,
            "resolution_hours": lead.resolution_hours, "claimed_by": lead.claimed_by,
            "claim_expires_at": lead.claim_expires_at, "reject_reason": lead.reject_reason,
            "rejected_post_count": lead.rejected_post_count, "review_reason": lead.review_reason,
            "dispatched_at": lead.dispatched_at, "confirmed": list(lead.confirmed)}


def tally_to_json(tally: LeadTally) -> dict:
    return {"posts": tally.posts, "engagement": tally.engagement, "first_seen": tally.first_seen.isoformat(),
            "last_seen": tally.last_seen.isoformat(), "urgent": tally.urgent,
            "recent": [at.isoformat() for at in tally.recent], "platforms": sorted(tally.platforms),
            "categories": tally.categories, "districts": tally.districts,
            "streets": [[d, st, n] for (d, st), n in sorted(tally.streets.items())],
            "places": [[lat, lon, n] for (lat, lon), n in sorted(tally.places.items())],
            "spots": tally.spots, "details": tally.details, "terms": tally.terms}


def tally_from_json(doc: dict) -> LeadTally:
    try:
        return LeadTally(int(doc["posts"]), int(doc["engagement"]), datetime.fromisoformat(doc["first_seen"]),
                         datetime.fromisoformat(doc["last_seen"]), bool(doc["urgent"]),
                         tuple(datetime.fromisoformat(at) for at in doc["recent"]), frozenset(doc["platforms"]),
                         {k: int(v) for k, v in doc["categories"].items()},
                         {k: int(v) for k, v in doc["districts"].items()},
                         {(d, st): int(n) for d, st, n in doc["streets"]},
                         {(float(lat), float(lon)): int(n) for lat, lon, n in doc["places"]},
                         # tallies written before migration 0012 name no spots
                         {k: int(v) for k, v in doc.get("spots", {}).items()},
                         {k: int(v) for k, v in doc.get("details", {}).items()},
                         {k: int(v) for k, v in doc.get("terms", {}).items()})
    except (KeyError, TypeError, ValueError) as exc:
        raise StoreError(f"lead tally is malformed ({exc!r}): {str(doc)[:200]}") from exc


def stored_tally(lead_id: str, doc) -> LeadTally | None:
    """The tally kept in a lead's profile; a malformed one is dropped (and logged), not fatal:
    it is derived data, recomputed from the lead's members when missing."""
    if not doc:
        return None
    try:
        return tally_from_json(doc)
    except StoreError as exc:
        log.warning("lead %s: %s; its tally is recomputed from its members", lead_id, exc)
        return None


def stored_embedding(lead_id: str, blob) -> np.ndarray | None:
    """A lead's embedding centroid; a truncated one is dropped (and logged): the lead is then
    compared by its words until new posts give it a centroid again."""
    if blob is None:
        return None
    raw = bytes(blob)
    if not raw or len(raw) % 4:
        log.warning("lead %s: embedding centroid of %d bytes is not float32 values; dropped", lead_id, len(raw))
        return None
    return np.frombuffer(raw, dtype="<f4").astype(np.float32)


def lead_from_row(r) -> Lead:
    return Lead(id=r.id, status=LeadStatus(r.status), title=r.title, category=r.category,
                district=r.district, street=r.street, unit=r.unit, urgent=r.urgent,
                priority=r.priority, priority_parts=PriorityParts(**r.priority_parts),
                post_count=r.post_count, platform_count=r.platform_count,
                first_seen=r.first_seen, last_seen=r.last_seen, version=r.version,
                merged_into=r.merged_into, keywords=tuple(r.keywords or ()), updated_at=r.updated_at,
                item=r.item, detected_at=r.detected_at, sla_due_at=r.sla_due_at,
                dispatch_minutes=r.dispatch_minutes, resolution_hours=r.resolution_hours,
                claimed_by=r.claimed_by, claim_expires_at=r.claim_expires_at, reject_reason=r.reject_reason,
                rejected_post_count=r.rejected_post_count, review_reason=r.review_reason,
                dispatched_at=r.dispatched_at, confirmed=tuple(r.confirmed or ()))


def event_row(e: LeadEvent) -> dict:
    return {"lead_id": e.lead_id, "kind": e.kind, "actor": e.actor, "at": e.at, "detail": e.detail}


def profile_row(p: LeadProfile, now: datetime) -> dict:
    return {"lead_id": p.lead_id, "members": int(p.members),
            "features": np.asarray(p.features, dtype="<i4").tobytes(),
            "weights": np.asarray(p.weights, dtype="<f4").tobytes(), "lat": p.lat, "lon": p.lon,
            "tally": tally_to_json(p.tally) if p.tally else None, "representative": p.representative,
            "embedding": (np.asarray(p.embedding, dtype="<f4").tobytes()
                          if p.embedding is not None else None),
            "embedding_model": p.embedding_model if p.embedding is not None else None,
            "place_key": p.place_key, "updated_at": now}


def profile_from_row(r) -> LeadProfile | None:
    """The profile joined to a lead row (columns renamed profile_lat, profile_lon); None for a
    lead written before profiles."""
    if r.features is None:
        return None
    features = np.frombuffer(bytes(r.features), dtype="<i4").astype(np.int32)
    weights = np.frombuffer(bytes(r.weights), dtype="<f4").astype(np.float32)
    if features.size != weights.size:
        raise StoreError(f"lead profile {r.id}: {features.size} features, {weights.size} weights")
    return LeadProfile(r.id, r.members, features, weights, r.profile_lat, r.profile_lon,
                       stored_tally(r.id, r.tally), r.representative,
                       stored_embedding(r.id, r.embedding), r.embedding_model, r.place_key)
