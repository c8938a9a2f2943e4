"""The desk's reads and writes beside the leads themselves: the queue, splits and the pairs
they keep apart, decisions as labels, SLA breaches, and the audit log (lead events written
by people rather than the clusterer)."""
from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import Integer, Select, Text, and_, bindparam, delete, exists, func, or_, select, union_all, update

from core.models import Lead, LeadEvent, LeadStatus, SlaBreach, TriageLabel, utcnow
from core.store import tables as t
from core.store.db import Repository, chunks
from core.store.rows import event_row, lead_from_row

MACHINE_ACTORS = ("clusterer", "work-order-system")
OPEN = (LeadStatus.NEW.value, LeadStatus.IN_REVIEW.value, LeadStatus.VERIFIED.value)


@dataclass(frozen=True)
class QueueQuery:
    """What the queue shows. `scope` is the actor's districts (empty: all); `sla` is one of
    breached | due_soon (within `due_soon_minutes`) | running."""

    scope: tuple[str, ...] = ()
    statuses: tuple[str, ...] = OPEN
    district: str | None = None
    category: str | None = None
    urgent: bool | None = None
    sla: str | None = None
    flagged: bool | None = None  # leads with a review reason: a returned order, still reported, back from rejection
    text: str | None = None
    sort: str = "priority"  # priority | time_left | newest
    limit: int = 50
    offset: int = 0
    due_soon_minutes: int = 30


# The columns the queue's order needs, and no more: an arm reads them from its index alone.
_QUEUE_KEYS = {"priority": lambda c: (c.id, c.priority), "time_left": lambda c: (c.id, c.sla_due_at, c.priority),
               "newest": lambda c: (c.id, c.first_seen)}


def _queue_order(c, sort: str) -> tuple:
    """The queue's order over columns `c` (the leads table's or a subquery's)."""
    if sort == "time_left":  # running clocks first, least time left first
        return (c.sla_due_at.is_(None), c.sla_due_at, c.priority.desc(), c.id)
    if sort == "newest":
        return (c.first_seen.desc(), c.id)
    return (c.priority.desc(), c.id)


@functools.lru_cache(maxsize=256)
def _queue_statements(statuses: tuple[str, ...], scoped: bool, district: bool, category: bool, urgent: bool | None,
                      sla: str | None, text: bool, sort: str, flagged: bool | None = None) -> tuple[Select, Select]:
    """The queue's count and page statements for one shape of query, built once (building
    them took a fifth of a queue request): every value is a bound parameter (scope, district,
    category, now, soon, pattern, limit, offset, arm_limit)."""
    L = t.leads
    conds = []
    if scoped:
        conds.append(L.c.district.in_(bindparam("scope", expanding=True)))
    if district:
        conds.append(L.c.district == bindparam("district"))
    if category:
        conds.append(L.c.category == bindparam("category"))
    if urgent is not None:
        conds.append(L.c.urgent.is_(urgent))
    if flagged is not None:
        conds.append(L.c.review_reason.is_not(None) if flagged else L.c.review_reason.is_(None))
    running = L.c.status.in_(OPEN)
    if sla == "breached":
        conds += [running, L.c.sla_due_at < bindparam("now")]
    elif sla == "due_soon":
        conds += [running, L.c.sla_due_at >= bindparam("now"), L.c.sla_due_at < bindparam("soon")]
    elif sla == "running":
        conds += [running, L.c.sla_due_at >= bindparam("now")]
    if text:
        pattern = bindparam("pattern", type_=Text)
        in_posts = exists(select(t.lead_posts.c.post_id)
                          .join(t.posts, t.posts.c.id == t.lead_posts.c.post_id)
                          .where(t.lead_posts.c.lead_id == L.c.id,
                                 or_(t.posts.c.text.like(pattern, escape="\\"),
                                     t.posts.c.title.like(pattern, escape="\\"))))
        conds.append(or_(L.c.title.like(pattern, escape="\\"), in_posts))
    count = select(func.count()).select_from(L).where(*conds, *([L.c.status.in_(statuses)] if statuses else []))
    # The page's ids first, then its rows. An IN over the statuses would make the database
    # sort every matching lead for one page (90 ms for the open queue of 100k leads): so one
    # arm per status, and sorted by time left one more per running / stopped clock, each read
    # in the order of an index on (status, ...) and cut at offset + limit, then merged.
    order = _queue_order(L.c, sort)
    # (The stopped clocks' arm sorts by sla_due_at too, all null there: so the database reads
    # it from the (status, sla_due_at) index, not every lead in priority order.)
    clocks = ([L.c.sla_due_at.is_not(None)], [L.c.sla_due_at.is_(None)]) if sort == "time_left" else ([],)
    arm_order = order[1:] if sort == "time_left" else order
    arms = []
    for status in statuses or (None,):
        by_status = [L.c.status == status] if status is not None else []
        for clock in clocks:
            arm = (select(*_QUEUE_KEYS[sort](L.c)).where(*conds, *by_status, *clock).order_by(*arm_order)
                   .limit(bindparam("arm_limit", type_=Integer)))
            arms.append(select(*arm.subquery().c))
    merged = (arms[0] if len(arms) == 1 else union_all(*arms)).subquery("arms")
    ids = (select(merged.c.id).order_by(*_queue_order(merged.c, sort))
           .limit(bindparam("limit", type_=Integer)).offset(bindparam("offset", type_=Integer)).subquery("page"))
    page = select(L).join(ids, ids.c.id == L.c.id).order_by(*order)
    return count, page


def _like(text: str) -> str:
    return "%" + text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"


class TriageRepository(Repository):

    def queue(self, q: QueueQuery, now: datetime | None = None) -> tuple[int, list[Lead]]:
        now = now or utcnow()
        count, page = _queue_statements(tuple(sorted(set(q.statuses))), bool(q.scope), bool(q.district),
                                        bool(q.category), q.urgent, q.sla, bool(q.text), q.sort, q.flagged)
        params = {"scope": list(q.scope), "district": q.district, "category": q.category, "now": now,
                  "soon": now + timedelta(minutes=q.due_soon_minutes), "pattern": _like(q.text) if q.text else None,
                  "limit": q.limit, "offset": q.offset, "arm_limit": q.offset + q.limit}
        with self.db.connect() as conn:
            total = conn.execute(count, params).scalar_one()
            rows = conn.execute(page, params).all()
        return total, [lead_from_row(r) for r in rows]

    def past_leads(self, category: str, district: str, exclude: str, limit: int) -> list[Lead]:
        """Leads of one category and district (not merged), most recently seen first."""
        L = t.leads
        q = (select(L).where(L.c.category == category, L.c.district == district, L.c.id != exclude,
                             L.c.status != LeadStatus.MERGED.value)
             .order_by(L.c.last_seen.desc(), L.c.id).limit(limit))
        with self.db.connect() as conn:
            return [lead_from_row(r) for r in conn.execute(q)]

    def status_counts(self, scope: Sequence[str] = (), now: datetime | None = None) -> dict[str, int]:
        """Leads per status within the scope, plus `breached`: open leads past their SLA."""
        now = now or utcnow()
        L = t.leads
        where = L.c.district.in_(scope) if scope else True
        with self.db.connect() as conn:
            out = {s: n for s, n in conn.execute(select(L.c.status, func.count()).where(where).group_by(L.c.status))}
            out["breached"] = conn.execute(select(func.count()).select_from(L).where(
                where, L.c.status.in_(OPEN), L.c.sla_due_at < now)).scalar_one()
        return out

    # --- splits and the pairs they keep apart --------------------------------------------------

    def move_posts(self, post_ids: Sequence[str], to_lead: str, placed_by: str) -> None:
        with self.db.begin() as conn:
            for chunk in chunks(list(post_ids)):
                conn.execute(update(t.lead_posts).where(t.lead_posts.c.post_id.in_(chunk))
                             .values(lead_id=to_lead, placed_by=placed_by))

    def move_lead_posts(self, from_lead: str, to_lead: str) -> None:
        """All posts of one lead to another (a merge); who placed each post is kept."""
        with self.db.begin() as conn:
            conn.execute(update(t.lead_posts).where(t.lead_posts.c.lead_id == from_lead).values(lead_id=to_lead))

    def forget_profiles(self, lead_ids: Sequence[str]) -> None:
        """Drop the clusterer's centroids of leads whose members an analyst changed: the next
        cluster run rebuilds them from the members."""
        with self.db.begin() as conn:
            conn.execute(delete(t.lead_profiles).where(t.lead_profiles.c.lead_id.in_(list(lead_ids))))

    def keep_apart(self, a: str, b: str, actor: str, now: datetime) -> None:
        lo, hi = sorted((a, b))
        with self.db.begin() as conn:
            conn.execute(*self.db.upsert(t.lead_separations, [{"lead_a": lo, "lead_b": hi, "created_by": actor,
                                                               "created_at": now}], ["lead_a", "lead_b"]))

    def kept_apart(self, lead_ids: Sequence[str]) -> set[frozenset[str]]:
        """The separated pairs touching any of `lead_ids`."""
        S = t.lead_separations
        out: set[frozenset[str]] = set()
        with self.db.connect() as conn:
            for chunk in chunks(list(dict.fromkeys(lead_ids))):
                for a, b in conn.execute(select(S.c.lead_a, S.c.lead_b).where(
                        or_(S.c.lead_a.in_(chunk), S.c.lead_b.in_(chunk)))):
                    out.add(frozenset((a, b)))
        return out

    def placed_posts(self, post_ids: Sequence[str]) -> set[str]:
        """Those of `post_ids` an analyst placed (the clusterer must not move them)."""
        out: set[str] = set()
        with self.db.connect() as conn:
            for chunk in chunks(list(dict.fromkeys(post_ids))):
                out.update(conn.execute(select(t.lead_posts.c.post_id).where(
                    t.lead_posts.c.post_id.in_(chunk), t.lead_posts.c.placed_by.is_not(None))).scalars())
        return out

    def add_events(self, events: Sequence[LeadEvent]) -> None:
        """Events that change no lead field (notes)."""
        with self.db.begin() as conn:
            for chunk in chunks([event_row(e) for e in events]):
                conn.execute(t.lead_events.insert(), list(chunk))

    # --- decisions as labels --------------------------------------------------------------------

    def add_labels(self, labels: Sequence[TriageLabel]) -> None:
        rows = [{"lead_id": l.lead_id, "action": l.action, "text": l.text, "model": l.model,
                 "decision": l.decision, "model_version": l.model_version, "actor": l.actor, "at": l.at}
                for l in labels]
        with self.db.begin() as conn:
            for chunk in chunks(rows):
                conn.execute(t.triage_labels.insert(), list(chunk))

    def labels(self, since: datetime | None = None) -> list[TriageLabel]:
        q = select(t.triage_labels).order_by(t.triage_labels.c.id)
        if since is not None:
            q = q.where(t.triage_labels.c.at >= since)
        with self.db.connect() as conn:
            return [TriageLabel(r.lead_id, r.action, r.text, r.model, r.decision, r.actor, r.at, r.model_version, r.id)
                    for r in conn.execute(q)]

    # --- SLA breaches ---------------------------------------------------------------------------

    def record_breaches(self, now: datetime) -> int:
        """Record every lead past its dispatch deadline (once per lead): open ones past it now
        and dispatched ones that went out late; returns how many were new."""
        L = t.leads
        B = t.sla_breaches
        # open and past due now, or dispatched after the deadline (however briefly it was late)
        late = or_(and_(L.c.status.in_(OPEN), L.c.sla_due_at < now),
                   and_(L.c.dispatched_at.is_not(None), L.c.dispatched_at > L.c.sla_due_at))
        q = (select(L.c.id, L.c.sla_due_at, L.c.status, L.c.category, L.c.district, L.c.urgent, L.c.claimed_by)
             .where(late, ~exists(select(B.c.lead_id).where(B.c.lead_id == L.c.id))))
        with self.db.begin() as conn:
            rows = [{"lead_id": r.id, "due_at": r.sla_due_at, "recorded_at": now, "status": r.status,
                     "category": r.category, "district": r.district, "urgent": r.urgent, "claimed_by": r.claimed_by}
                    for r in conn.execute(q)]
            for chunk in chunks(rows):
                conn.execute(*self.db.upsert(B, list(chunk), ["lead_id"], []))
        return len(rows)

    def breaches(self, since: datetime, until: datetime | None = None) -> list[SlaBreach]:
        B = t.sla_breaches
        q = select(B).where(B.c.due_at >= since)
        if until is not None:
            q = q.where(B.c.due_at < until)
        with self.db.connect() as conn:
            return [SlaBreach(r.lead_id, r.due_at, r.recorded_at, r.status, r.category, r.district, r.urgent,
                              r.claimed_by) for r in conn.execute(q.order_by(B.c.due_at, B.c.lead_id))]

    # --- the audit log --------------------------------------------------------------------------

    def audit(self, *, scope: Sequence[str] = (), actor: str | None = None, lead_id: str | None = None,
              limit: int = 100, offset: int = 0) -> list[LeadEvent]:
        """Events written by people, newest first; `scope` limits them to leads of those districts."""
        E = t.lead_events
        q = select(E).where(E.c.actor.not_in(MACHINE_ACTORS))
        if actor:
            q = q.where(E.c.actor == actor)
        if lead_id:
            q = q.where(E.c.lead_id == lead_id)
        if scope:
            q = q.join(t.leads, t.leads.c.id == E.c.lead_id).where(t.leads.c.district.in_(scope))
        q = q.order_by(E.c.id.desc()).limit(limit).offset(offset)
        with self.db.connect() as conn:
            return [LeadEvent(r.lead_id, r.kind, r.actor, r.at, r.detail, r.id) for r in conn.execute(q)]

    def throughput(self, since: datetime, scope: Sequence[str] = ()) -> dict[str, dict[str, int]]:
        """Per analyst, how many of each decision since `since`, on leads of the `scope`
        districts (empty: all)."""
        E = t.lead_events
        q = (select(E.c.actor, E.c.kind, func.count()).where(E.c.at >= since, E.c.actor.not_in(MACHINE_ACTORS))
             .group_by(E.c.actor, E.c.kind))
        if scope:
            q = q.join(t.leads, t.leads.c.id == E.c.lead_id).where(t.leads.c.district.in_(list(scope)))
        out: dict[str, dict[str, int]] = {}
        with self.db.connect() as conn:
            for actor, kind, n in conn.execute(q):
                out.setdefault(actor, {})[kind] = n
        return out
