"""Search for the desk: posts by Chinese words or phrases with filters and highlights, leads by
title words or near a point. Within the caller's districts, like the queue."""
from __future__ import annotations

from dataclasses import asdict
from datetime import timedelta
from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Query
from pydantic import AwareDatetime

from core.search import LeadHit, PostQuery, SearchError, SearchIndex, SearchUnavailable
from leads_api.auth import Principal, scope_of
from leads_api.deps import current, search_of
from leads_api.schemas import ErrorBody, LeadHitPublic, PostHitPublic, PostSearchPage, TrendBucketPublic

MAX_TREND_SPAN = timedelta(days=92)
ERRORS = {401: {"model": ErrorBody}, 422: {"model": ErrorBody}, 503: {"model": ErrorBody}}

router = APIRouter(tags=["search"])


def leads_within(search: SearchIndex, text: str, scope: tuple[str, ...], size: int) -> list[LeadHit]:
    """At most `size` leads whose title or keywords hold every word of `text`, in the districts
    of `scope` (empty: all), highest priority first. The index knows no scope, so it is applied
    to the index's answer, read a little deeper. Raises what `search_leads` raises."""
    hits = search.search_leads(text, size=_deeper(size, scope))
    return [h for h in hits if not scope or h.district in scope][:size]


def near_within(search: SearchIndex, lat: float, lon: float, meters: float, scope: tuple[str, ...],
                size: int) -> list[LeadHit]:
    """The leads within `meters` of the point, nearest first, in the districts of `scope`, read
    deeper as `leads_within` does. Raises what `leads_near` raises."""
    hits = search.leads_near(lat, lon, meters, size=_deeper(size, scope))
    return [h for h in hits if not scope or h.district in scope][:size]


def _deeper(size: int, scope: tuple[str, ...]) -> int:
    return min(100, size * (4 if scope else 1))


@router.get("/search/posts", response_model=PostSearchPage, responses=ERRORS)
def search_posts(
    p: Annotated[Principal, Depends(current)],
    q: Annotated[str, Query(max_length=200, description="words (all must match) and \"quoted phrases\"")] = "",
    district: Annotated[str | None, Query(min_length=1, max_length=50)] = None,
    category: Annotated[str | None, Query(min_length=1, max_length=100)] = None,
    platform: Annotated[str | None, Query(min_length=1, max_length=50)] = None,
    since: AwareDatetime | None = None,
    until: AwareDatetime | None = None,
    relevant_only: bool = False,
    size: Annotated[int, Query(ge=1, le=100)] = 20,
    after: Annotated[str | None, Query(min_length=1, max_length=500, description="next_after of the previous page")] = None,
    search=Depends(search_of),
) -> PostSearchPage:
    """Posts newest first; page on with `after`."""
    scope = scope_of(p)
    if scope and district and district not in scope:
        return PostSearchPage(total=0, items=[], next_after=None)
    try:
        query = PostQuery(q, district=district, category=category, platform=platform, since=since, until=until,
                          relevant_only=relevant_only, size=size, after=after, districts=scope)
        page = search.search_posts(query)
    except SearchError as exc:
        raise HTTPException(422, str(exc)) from exc
    except SearchUnavailable as exc:
        raise HTTPException(503, str(exc)) from exc
    return PostSearchPage(total=page.total, next_after=page.next_after,
                          items=[PostHitPublic(**{**asdict(h), "highlights": list(h.highlights)}) for h in page.hits])


@router.get("/search/leads", response_model=list[LeadHitPublic], responses=ERRORS)
def search_leads(
    p: Annotated[Principal, Depends(current)],
    q: Annotated[str, Query(min_length=1, max_length=200)],
    size: Annotated[int, Query(ge=1, le=100)] = 20,
    search=Depends(search_of),
) -> list[LeadHitPublic]:
    """Leads whose title or keywords hold every word, highest priority first."""
    try:
        hits = leads_within(search, q, scope_of(p), size)
    except SearchError as exc:
        raise HTTPException(422, str(exc)) from exc
    except SearchUnavailable as exc:
        raise HTTPException(503, str(exc)) from exc
    return [LeadHitPublic(**{k: getattr(h, k) for k in LeadHitPublic.model_fields}) for h in hits]


@router.get("/search/leads/near", response_model=list[LeadHitPublic], responses=ERRORS)
def leads_near(
    p: Annotated[Principal, Depends(current)],
    lat: Annotated[float, Query(ge=-90, le=90)],
    lon: Annotated[float, Query(ge=-180, le=180)],
    meters: Annotated[float, Query(gt=0, le=50_000, description="radius")] = 500,
    size: Annotated[int, Query(ge=1, le=100)] = 20,
    search=Depends(search_of),
) -> list[LeadHitPublic]:
    """Leads whose posts' place lies within `meters` of the point, nearest first, with their
    distance: what else is wrong around a place. Within the caller's districts."""
    try:
        hits = near_within(search, lat, lon, meters, scope_of(p), size)
    except SearchError as exc:
        raise HTTPException(422, str(exc)) from exc
    except SearchUnavailable as exc:
        raise HTTPException(503, str(exc)) from exc
    return [LeadHitPublic(**{k: getattr(h, k) for k in LeadHitPublic.model_fields}) for h in hits]


@router.get("/search/trends", response_model=list[TrendBucketPublic], responses=ERRORS)
def search_trends(
    p: Annotated[Principal, Depends(current)],
    since: AwareDatetime,
    until: AwareDatetime,
    search=Depends(search_of),
) -> list[TrendBucketPublic]:
    """Relevant posts per day x district x category in [since, until), at most 92 days: the
    index's date histogram, for the class-case and spike views. Within the caller's districts."""
    if until <= since:
        raise HTTPException(422, "until must be after since")
    if until - since > MAX_TREND_SPAN:
        raise HTTPException(422, f"at most {MAX_TREND_SPAN.days} days at a time")
    scope = scope_of(p)
    try:
        buckets = search.trends(since, until)
    except SearchUnavailable as exc:
        raise HTTPException(503, str(exc)) from exc
    return [TrendBucketPublic(day=b.day, district=b.district, category=b.category, count=b.count)
            for b in buckets if not scope or b.district in scope]
