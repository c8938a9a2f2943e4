"""Forget posts everywhere they are copied: the orchestration of core.forget.

A request's posts are removed from the store (record, enrichments, lead membership, cached
embeddings, text copies in labels, event details and work-order evidence), the leads they were
in are rebuilt from their remaining members (clustering.repair), all in one transaction with
the audit row; then the search index drops the posts and re-indexes the repaired leads. The
search index is a copy that can always be rebuilt from the store (`radar index rebuild`), so
if it cannot be reached the store's deletion stands and the request records why the index
was not done.
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from datetime import datetime, timedelta

from clustering.repair import RepairedLead, repair_leads
from core.config import Config
from core.forget import ForgetKind, ForgetRequest, ForgetSummary
from core.models import LeadEvent
from core.redaction import Redactor
from core.search import SearchIndex
from core.store import Store
from core.store.errors import ConcurrencyError

ATTEMPTS = 3  # a cluster run may change a lead between our read and write: read again
RETENTION_BATCH = 1000


def forget_posts(store: Store, config: Config, search: SearchIndex | None, request: ForgetRequest,
                 post_ids: Sequence[str], *, unknown: Sequence[str] = (), dry_run: bool = False) -> ForgetSummary:
    """Forget `post_ids` (found in the store) for `request`; `unknown` are ids asked for that
    the store does not hold, reported back. A dry run reads what would change and writes nothing."""
    ids = list(dict.fromkeys(post_ids))
    base = ForgetSummary(request=None, kind=request.kind.value, dry_run=dry_run, posts=len(ids),
                         unknown=tuple(unknown))
    if not ids:
        return replace(base, note="nothing to forget: no stored post matches (already forgotten, or never crawled)")
    if dry_run:
        repairs = _repairs(store, config, ids, request.at)
        return replace(base, leads_repaired=tuple(r.lead.id for r in repairs if not r.emptied),
                       leads_emptied=tuple(r.lead.id for r in repairs if r.emptied))
    repairs, counts = _erase(store, config, request, ids, post_ids_in_audit=True)
    summary = _summary(base, request, repairs, counts)
    return replace(summary, search=_unindex(store, search, request, ids, repairs, counts))


def purge_retention(store: Store, config: Config, search: SearchIndex | None, request: ForgetRequest,
                    cutoff: datetime, *, dry_run: bool = False, batch: int = RETENTION_BATCH) -> ForgetSummary:
    """Forget every post published before `cutoff`, `batch` at a time (each batch one
    transaction, all under the one request), then purge the search index before the cutoff."""
    base = ForgetSummary(request=None, kind=ForgetKind.RETENTION.value, dry_run=dry_run, posts=0)
    if dry_run:
        return replace(base, posts=store.forget.count_before(cutoff),
                       note=f"posts published before {cutoff.isoformat()} would be forgotten")
    total = base
    touched: list[RepairedLead] = []
    while ids := store.forget.posts_before(cutoff, batch):
        repairs, counts = _erase(store, config, request, ids, post_ids_in_audit=False)
        step = _summary(replace(base, posts=len(ids)), request, repairs, counts)
        total = _add(total, step)
        touched += repairs
        _unindex(store, search, request, ids, repairs, counts)
    if total.posts == 0:
        return replace(total, note=f"no post published before {cutoff.isoformat()}")
    # the index may hold old posts the store no longer has (an earlier failed run)
    return replace(total, search=_unindex(store, search, request, [], [], {}, purge_before=cutoff))


def _repairs(store: Store, config: Config, ids: Sequence[str], at: datetime) -> list[RepairedLead]:
    lead_ids = sorted(set(store.leads.of_posts(ids).values()))
    return repair_leads(store, lead_ids, set(ids), at, config.radar.priority)


def _erase(store: Store, config: Config, request: ForgetRequest, ids: Sequence[str],
           post_ids_in_audit: bool) -> tuple[list[RepairedLead], dict]:
    """Delete and repair in one transaction, retried when a lead changed under us."""
    redactor = Redactor(store.forget.texts(ids))
    for attempt in range(ATTEMPTS):
        repairs = _repairs(store, config, ids, request.at)
        try:
            with store.unit_of_work() as uow:
                counts = uow.forget.erase(request, ids, [r.lead.id for r in repairs], redactor)
                uow.leads.commit_clustering(updates=[(r.lead, r.read_version, _event(request, r), ())
                                                     for r in repairs],
                                            profiles=[r.profile for r in repairs])
                uow.forget.record(request, ids if post_ids_in_audit else None, len(ids),
                                  [r.lead.id for r in repairs], _audit_counts(repairs, counts))
            return repairs, counts
        except ConcurrencyError:
            if attempt == ATTEMPTS - 1:
                raise
    raise AssertionError("unreachable")


def _event(request: ForgetRequest, r: RepairedLead) -> LeadEvent:
    """The lead's own record of the request: which of its posts went, ids only, and why."""
    return LeadEvent(r.lead.id, "posts_forgotten", request.actor, request.at,
                     {"request": request.id, "kind": request.kind.value, "reason": request.reason,
                      "posts": list(r.removed), "remaining": r.lead.post_count, "emptied": r.emptied})


def _audit_counts(repairs: Sequence[RepairedLead], counts: dict) -> dict:
    return {"embeddings": counts["embeddings"], "labels_redacted": counts["labels"],
            "events_redacted": counts["events"], "orders_redacted": len(counts["orders"]),
            "leads_emptied": sum(r.emptied for r in repairs)}


def _summary(base: ForgetSummary, request: ForgetRequest, repairs: Sequence[RepairedLead],
             counts: dict) -> ForgetSummary:
    return replace(base, request=request.id, leads_repaired=tuple(r.lead.id for r in repairs if not r.emptied),
                   leads_emptied=tuple(r.lead.id for r in repairs if r.emptied), embeddings=counts["embeddings"],
                   labels_redacted=counts["labels"], events_redacted=counts["events"],
                   orders_redacted=tuple(counts["orders"]))


def _add(a: ForgetSummary, b: ForgetSummary) -> ForgetSummary:
    def union(x, y):
        return tuple(dict.fromkeys((*x, *y)))
    return replace(a, request=b.request, posts=a.posts + b.posts,
                   leads_repaired=union(a.leads_repaired, b.leads_repaired),
                   leads_emptied=union(a.leads_emptied, b.leads_emptied), embeddings=a.embeddings + b.embeddings,
                   labels_redacted=a.labels_redacted + b.labels_redacted,
                   events_redacted=a.events_redacted + b.events_redacted,
                   orders_redacted=union(a.orders_redacted, b.orders_redacted))


def _unindex(store: Store, search: SearchIndex | None, request: ForgetRequest, ids: Sequence[str],
             repairs: Sequence[RepairedLead], counts: dict, purge_before: datetime | None = None) -> str:
    """Drop the posts from the search index and re-index the leads whose titles changed;
    records the outcome on the request."""
    if search is None:
        status = "done: no search index configured"
    else:
        try:
            n = search.delete_posts(list(ids)) if ids else 0
            if purge_before is not None:
                n += search.purge_before(purge_before)
            lead_ids = [r.lead.id for r in repairs] + list(counts.get("merged_leads_retitled", ()))
            if lead_ids:
                search.index_leads([store.leads.get(lid) for lid in dict.fromkeys(lead_ids)])
            search.refresh()
            status = f"done: {n}"
        except Exception as exc:  # noqa: BLE001 - any failure leaves the store's deletion standing
            status = f"failed: {type(exc).__name__}: {exc}; run `radar index rebuild`"
    store.forget.set_index_status(request.id, status)
    return status


def retention_cutoff(config: Config, now: datetime) -> datetime:
    return now - timedelta(days=config.radar.retention.raw_post_days)


def retention_request(config: Config, now: datetime, actor: str) -> tuple[ForgetRequest, datetime]:
    """The audited request of a retention purge as of `now`, and its cutoff."""
    cutoff = retention_cutoff(config, now)
    return ForgetRequest(ForgetKind.RETENTION, actor, cutoff.isoformat(),
                         f"retention: raw posts are kept {config.radar.retention.raw_post_days} days", now), cutoff
