"""Build a lead's fields and priority from the tally of its member posts.

Priority is a weighted sum of parts in [0, 1], each stored, so an analyst sees why a lead
ranks where it does. Recency is measured against the window end, never `now()`, so a re-run
over the same window scores the same.
"""
from __future__ import annotations

import hashlib
import math
from collections import Counter
from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta

from clustering.grouping import place_of
from core.config import PriorityWeights
from core.models import DETAIL_KINDS, EnrichedPost, Lead, LeadStatus, LeadTally, PriorityParts

TITLE_CHARS = 60


def lead_id_for(first_post_id: str) -> str:
    """Stable id from the post that founded the lead: re-runs name it the same."""
    return "L" + hashlib.sha1(first_post_id.encode()).hexdigest()[:12]


def majority(counts: Mapping) -> object | None:
    """The value most members have; ties to the smallest value, so any reading order agrees."""
    return min(((-n, value) for value, n in counts.items() if value), default=(0, None))[1]


def tally_of(members: Sequence[EnrichedPost], as_of: datetime) -> LeadTally:
    """The tally of posts held in memory (a new group, or a lead's new members)."""
    categories: Counter = Counter(m.enrichment.category for m in members if m.enrichment.category)
    districts: Counter = Counter(m.enrichment.district for m in members if m.enrichment.district)
    streets: Counter = Counter((m.enrichment.district, m.enrichment.street) for m in members
                               if m.enrichment.district and m.enrichment.street)
    places: Counter = Counter(p for p in map(place_of, members) if p is not None)
    spots: Counter = Counter(m.enrichment.place_key for m in members if m.enrichment.place_key)
    details: Counter = Counter(f"{kind}:{value}" for m in members for kind, value in m.enrichment.place_detail)
    terms: Counter = Counter(term for m in members for term in set(m.enrichment.what_terms))
    day_before = as_of - timedelta(days=1)
    return LeadTally(
        posts=len(members), engagement=sum(m.post.engagement.total for m in members),
        first_seen=min(m.post.published_at for m in members),
        last_seen=max(m.post.published_at for m in members),
        urgent=any(m.enrichment.urgent for m in members),
        recent=tuple(sorted(m.post.published_at for m in members if m.post.published_at >= day_before)),
        platforms=frozenset(m.post.platform for m in members),
        categories=dict(categories), districts=dict(districts), streets=dict(streets), places=dict(places),
        spots=dict(spots), details=dict(details), terms=dict(terms))


def main_detail(tally: LeadTally) -> tuple[tuple[str, str], ...]:
    """Per kind, the detail most members naming one name (3栋 of 3栋 ×5, 5栋 ×1)."""
    by_kind: dict[str, dict[str, int]] = {}
    for key, n in tally.details.items():
        kind, _, value = key.partition(":")
        by_kind.setdefault(kind, {})[value] = n
    return tuple((kind, majority(by_kind[kind])) for kind in DETAIL_KINDS if kind in by_kind)


def main_terms(tally: LeadTally) -> tuple[str, ...]:
    """The catalogue keywords a lead is about: those at least a third of its members were read from."""
    return tuple(sorted(t for t, n in tally.terms.items() if 3 * n >= tally.posts))


def main_point(tally: LeadTally) -> tuple[float, float] | None:
    """The place most members name, None if none names one."""
    return majority(tally.places)


def title_of(post: EnrichedPost) -> str:
    title = (post.post.title or "").strip()
    if title:
        return title[:TITLE_CHARS]
    text = post.enrichment.normalized_text.strip().replace("\n", " ")
    return text[:TITLE_CHARS] + ("…" if len(text) > TITLE_CHARS else "")


def velocity_of(tally: LeadTally, as_of: datetime) -> float:
    """Posts per hour in the last day against the lead's own lifetime rate, as 0..1."""
    lifetime_hours = max(1.0, (as_of - tally.first_seen).total_seconds() / 3600)
    baseline = tally.posts / lifetime_hours
    day_before = as_of - timedelta(days=1)
    recent = sum(1 for at in tally.recent if day_before <= at <= as_of) / 24
    ratio = recent / baseline if baseline else 0.0
    # ratio 1 is the lead's usual pace (0.5); 3x its usual pace or more is hot (~1).
    return min(1.0, math.log1p(ratio) / math.log1p(3)) / (1 if ratio >= 1 else 2) if ratio else 0.0


def priority_of(tally: LeadTally, as_of: datetime, weights: PriorityWeights,
                recurrence: float = 0.0) -> tuple[float, PriorityParts]:
    age_hours = max(0.0, (as_of - tally.last_seen).total_seconds() / 3600)
    parts = PriorityParts(
        urgency=1.0 if tally.urgent else 0.0,
        volume=1 - math.exp(-tally.posts / 5),
        engagement=min(1.0, math.log1p(tally.engagement) / math.log1p(10_000)),
        spread=min(1.0, (len(tally.platforms) - 1) / 3),
        recency=math.exp(-age_hours / 72),
        velocity=velocity_of(tally, as_of),
        recurrence=min(1.0, recurrence),
    )
    score = (weights.urgency * parts.urgency + weights.volume * parts.volume
             + weights.engagement * parts.engagement + weights.spread * parts.spread
             + weights.recency * parts.recency + weights.velocity * parts.velocity
             + weights.recurrence * parts.recurrence)
    return round(score, 6), PriorityParts(*(round(v, 6) for v in (
        parts.urgency, parts.volume, parts.engagement, parts.spread, parts.recency,
        parts.velocity, parts.recurrence)))


def build_lead(lead_id: str, tally: LeadTally, representative: EnrichedPost, as_of: datetime,
               weights: PriorityWeights, previous: Lead | None = None, *, reopened: bool = False,
               keywords: Sequence[str] = ()) -> Lead:
    """The lead's fields from the tally of all its members and its representative post (the
    title); status and version carry over from `previous`. Each reopening adds a third to the
    recurrence part."""
    recurrence = (previous.priority_parts.recurrence if previous else 0.0) + (1 / 3 if reopened else 0.0)
    priority, parts = priority_of(tally, as_of, weights, recurrence)
    district = majority(tally.districts)
    street = majority({s: n for (d, s), n in tally.streets.items() if d == district})
    category = majority(tally.categories)
    rep_enrichment = representative.enrichment
    same = rep_enrichment.category == category  # the representative's item and unit fit the lead
    return Lead(
        id=lead_id,
        status=previous.status if previous else LeadStatus.NEW,
        title=title_of(representative),
        category=category,
        district=district,
        street=street,
        unit=(previous.unit if previous and previous.unit else None) or (rep_enrichment.unit if same else None),
        urgent=tally.urgent,
        priority=priority,
        priority_parts=parts,
        post_count=tally.posts,
        platform_count=len(tally.platforms),
        first_seen=tally.first_seen,
        last_seen=tally.last_seen,
        version=previous.version if previous else 1,
        keywords=tuple(keywords) or (previous.keywords if previous else ()),
        item=rep_enrichment.item if same else None,
    )
