"""Leads: the queue, one lead with its evidence, and every triage action on it."""
from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Path, Query

from core.models import LeadStatus
from core.store.triage import OPEN, QueueQuery
from core.triage import Correction
from leads_api.auth import Principal, scope_of
from leads_api.deps import current, desk_of, store_of
from leads_api.desk import Desk
from leads_api.schemas import (BulkRequest, BulkResponse, BulkResultPublic, ClaimRequest, ErrorBody, LeadDetail,
                               LeadEventPublic, LeadPage, LeadPublic, MergeRequest, NoteRequest, PostPublic,
                               RecategorizeRequest, RejectRequest, RerouteRequest, ActionBase, SplitRequest,
                               SplitResponse, VerifyRequest)

LEAD_ID = r"^L[0-9a-f]{12}$"
LeadIdPath = Annotated[str, Path(pattern=LEAD_ID)]

ERRORS = {401: {"model": ErrorBody}, 404: {"model": ErrorBody}, 422: {"model": ErrorBody}}
ACTION_ERRORS = {**ERRORS, 403: {"model": ErrorBody},
                 409: {"model": ErrorBody, "description": "stale version, lock held by another analyst, or an "
                       "action the lead's status does not allow; `current` is the lead now"}}

router = APIRouter(tags=["leads"])


@router.get("/leads", response_model=LeadPage, responses=ERRORS)
def list_leads(
    p: Annotated[Principal, Depends(current)],
    store=Depends(store_of),
    status: Annotated[list[LeadStatus] | None, Query(max_length=7, description="any of these; default: all")] = None,
    district: Annotated[str | None, Query(min_length=1, max_length=50)] = None,
    category: Annotated[str | None, Query(min_length=1, max_length=100)] = None,
    urgent: bool | None = None,
    flagged: Annotated[bool | None, Query(description="leads to look at again: a returned order, a resolved "
                                          "problem still reported, a rejected lead back")] = None,
    sla: Annotated[Literal["breached", "due_soon", "running"] | None, Query(description="SLA clock state")] = None,
    q: Annotated[str | None, Query(min_length=1, max_length=100, description="words in titles or post text")] = None,
    sort: Literal["priority", "time_left", "newest"] = "priority",
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    offset: Annotated[int, Query(ge=0, le=1_000_000)] = 0,
) -> LeadPage:
    """The queue, within the caller's districts: highest priority first (or least time left)."""
    statuses = tuple(s.value for s in status) if status else tuple(s.value for s in LeadStatus)
    query = QueueQuery(scope=scope_of(p), statuses=statuses, district=district, category=category, urgent=urgent,
                       sla=sla, flagged=flagged, text=q, sort=sort, limit=limit, offset=offset)
    total, leads = store.triage.queue(query)
    return LeadPage(total=total, limit=limit, offset=offset, items=[LeadPublic.of(l) for l in leads])


@router.get("/leads/{lead_id}", response_model=LeadDetail, responses=ERRORS)
def get_lead(lead_id: LeadIdPath, p: Annotated[Principal, Depends(current)], desk: Desk = Depends(desk_of)):
    """One lead with its posts (oldest first) and its event history."""
    lead = desk.lead(p.actor, lead_id)
    return LeadDetail(**LeadPublic.of(lead).model_dump(),
                      posts=[PostPublic.of(ep) for ep in desk.store.leads.posts(lead_id)],
                      events=[LeadEventPublic.of(e) for e in desk.store.leads.events(lead_id)])


@router.get("/leads/{lead_id}/similar", response_model=list[LeadPublic], responses=ERRORS)
def similar_leads(lead_id: LeadIdPath, p: Annotated[Principal, Depends(current)], desk: Desk = Depends(desk_of),
                  limit: Annotated[int, Query(ge=1, le=20)] = 5):
    """Past leads of the same category and district, those sharing most keywords first."""
    return [LeadPublic.of(l) for l in desk.similar(p.actor, lead_id, limit)]


def _correction(body) -> Correction:
    fields = {k: getattr(body, k) for k in ("category", "item", "unit", "district", "dispatch_minutes",
                                             "resolution_hours") if hasattr(body, k)}
    return Correction(**fields)


@router.post("/leads/{lead_id}/claim", response_model=LeadPublic, responses=ACTION_ERRORS)
def claim(lead_id: LeadIdPath, body: ClaimRequest, p: Annotated[Principal, Depends(current)],
          desk: Desk = Depends(desk_of)):
    """Take or renew the review lock; `force` lets a supervisor break another analyst's lock."""
    return LeadPublic.of(desk.act(p.actor, lead_id, body.version, "claim", note=body.note, force=body.force))


@router.post("/leads/{lead_id}/release", response_model=LeadPublic, responses=ACTION_ERRORS)
def release(lead_id: LeadIdPath, body: ActionBase, p: Annotated[Principal, Depends(current)],
            desk: Desk = Depends(desk_of)):
    """Give the review lock back; an in-review lead returns to the queue as new."""
    return LeadPublic.of(desk.act(p.actor, lead_id, body.version, "release", note=body.note))


@router.post("/leads/{lead_id}/verify", response_model=LeadPublic, responses=ACTION_ERRORS)
def verify(lead_id: LeadIdPath, body: VerifyRequest, p: Annotated[Principal, Depends(current)],
           desk: Desk = Depends(desk_of)):
    """A real, actionable problem: category, item, unit and deadlines confirmed as given (or as they are)."""
    lead = desk.act(p.actor, lead_id, body.version, "verify", note=body.note, correction=_correction(body))
    if body.dispatch:
        lead, _ = desk.dispatch(p.actor, lead_id, lead.version)
    return LeadPublic.of(lead)


@router.post("/leads/{lead_id}/reject", response_model=LeadPublic, responses=ACTION_ERRORS)
def reject(lead_id: LeadIdPath, body: RejectRequest, p: Annotated[Principal, Depends(current)],
           desk: Desk = Depends(desk_of)):
    """Not a lead to act on, with the reason (a training label for relevance)."""
    return LeadPublic.of(desk.act(p.actor, lead_id, body.version, "reject", note=body.note, reason=body.reason))


@router.post("/leads/{lead_id}/recategorize", response_model=LeadPublic, responses=ACTION_ERRORS)
def recategorize(lead_id: LeadIdPath, body: RecategorizeRequest, p: Annotated[Principal, Depends(current)],
                 desk: Desk = Depends(desk_of)):
    return LeadPublic.of(desk.act(p.actor, lead_id, body.version, "recategorize", note=body.note,
                                  correction=_correction(body)))


@router.post("/leads/{lead_id}/reroute", response_model=LeadPublic, responses=ACTION_ERRORS)
def reroute(lead_id: LeadIdPath, body: RerouteRequest, p: Annotated[Principal, Depends(current)],
            desk: Desk = Depends(desk_of)):
    """Another responsible unit (or district)."""
    return LeadPublic.of(desk.act(p.actor, lead_id, body.version, "reroute", note=body.note,
                                  correction=_correction(body)))


@router.post("/leads/{lead_id}/escalate", response_model=LeadPublic, responses=ACTION_ERRORS)
def escalate(lead_id: LeadIdPath, body: ActionBase, p: Annotated[Principal, Depends(current)],
             desk: Desk = Depends(desk_of)):
    """Urgent: the SLA deadline shortens to the urgent dispatch time."""
    return LeadPublic.of(desk.act(p.actor, lead_id, body.version, "escalate", note=body.note))


@router.post("/leads/{lead_id}/reopen", response_model=LeadPublic, responses=ACTION_ERRORS)
def reopen(lead_id: LeadIdPath, body: ActionBase, p: Annotated[Principal, Depends(current)],
           desk: Desk = Depends(desk_of)):
    """A rejected or closed lead back to the queue."""
    return LeadPublic.of(desk.act(p.actor, lead_id, body.version, "reopen", note=body.note))


@router.post("/leads/{lead_id}/note", response_model=LeadPublic, responses=ACTION_ERRORS)
def note(lead_id: LeadIdPath, body: NoteRequest, p: Annotated[Principal, Depends(current)],
         desk: Desk = Depends(desk_of)):
    """A note on the lead's timeline; needs no lock and changes no field."""
    return LeadPublic.of(desk.act(p.actor, lead_id, body.version, "note", note=body.note))


@router.post("/leads/{lead_id}/merge", response_model=LeadPublic, responses=ACTION_ERRORS)
def merge(lead_id: LeadIdPath, body: MergeRequest, p: Annotated[Principal, Depends(current)],
          desk: Desk = Depends(desk_of)):
    """Two leads about one problem become one; the older id survives and is returned."""
    return LeadPublic.of(desk.merge(p.actor, lead_id, body.version, body.other_id, body.other_version,
                                    note=body.note))


@router.post("/leads/{lead_id}/split", response_model=SplitResponse, responses=ACTION_ERRORS)
def split(lead_id: LeadIdPath, body: SplitRequest, p: Annotated[Principal, Depends(current)],
          desk: Desk = Depends(desk_of)):
    """The chosen posts move to a new lead; the clusterer never merges the two again."""
    lead, new = desk.split(p.actor, lead_id, body.version, body.post_ids, note=body.note)
    return SplitResponse(lead=LeadPublic.of(lead), new_lead=LeadPublic.of(new))


@router.post("/leads/bulk", response_model=BulkResponse, responses=ACTION_ERRORS)
def bulk(body: BulkRequest, p: Annotated[Principal, Depends(current)], desk: Desk = Depends(desk_of)):
    """Verify or reject many leads; each item reports its own outcome."""
    if body.action == "reject" and body.reason is None:
        from leads_api.desk import BadValue
        raise BadValue("reason", "a bulk reject needs a reason")
    results = desk.bulk(p.actor, body.action, [(i.id, i.version) for i in body.items], reason=body.reason,
                        note=body.note)
    return BulkResponse(results=[BulkResultPublic(id=r.lead_id, ok=r.ok, status=r.status, error=r.error,
                                                  lead=LeadPublic.of(r.lead) if r.lead else None) for r in results])


__all__ = ["router", "OPEN"]
