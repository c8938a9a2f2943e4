"""Leads: their members, events and profiles, and the clusterer's stage state.

A lead keeps its id through re-clustering; every change is checked against the version it was
read at (optimistic concurrency) and recorded as an event."""
from __future__ import annotations

from collections.abc import Iterator, Sequence
from datetime import datetime

import numpy as np

from sqlalchemy import and_, bindparam, case, func, select, update

from core.models import EnrichedPost, Lead, LeadEvent, LeadProfile, LeadStatus, LeadTally, StageState, utcnow
from core.store import tables as t
from core.store.db import Repository, chunks
from core.store.errors import ConcurrencyError, LeadNotFound
from core.store.posts import PostRepository
from core.store.rows import event_row, lead_from_row, lead_row, profile_from_row, profile_row, stored_embedding

# (lead, its members as (post id, similarity), the event recording its creation)
NewLead = tuple[Lead, Sequence[tuple[str, float]], LeadEvent]
# (lead as it should be, the version it was read at, an event or None, posts joining it)
LeadUpdate = tuple[Lead, int, LeadEvent | None, Sequence[tuple[str, float]]]


# Statuses whose leads still take new posts (merged leads never do; closed ones may reopen).
GROWING = [s.value for s in (LeadStatus.NEW, LeadStatus.IN_REVIEW, LeadStatus.VERIFIED, LeadStatus.REJECTED,
                             LeadStatus.DISPATCHED)]


class LeadRepository(Repository):
    """`store.leads`: leads with their members, events and profiles, and stage state."""

    def create(self, lead: Lead, members: Sequence[tuple[str, float]], event: LeadEvent) -> None:
        self.create_many([(lead, members, event)])

    def create_many(self, items: Sequence[NewLead]) -> None:
        """Create many leads with their members and events in one transaction."""
        with self.db.begin() as conn:
            self._create_leads(conn, items, utcnow())

    def _create_leads(self, conn, items, now: datetime) -> None:
        for chunk in chunks(list(items)):
            conn.execute(t.leads.insert(), [{**lead_row(lead), "created_at": now} for lead, _, _ in chunk])
            conn.execute(t.lead_events.insert(), [event_row(event) for _, _, event in chunk])
        self._attach_many(conn, [(lead.id, pid, sim) for lead, members, _ in items for pid, sim in members], now)

    def update(self, lead: Lead, expected_version: int, event: LeadEvent | None = None,
               members: Sequence[tuple[str, float]] = ()) -> Lead:
        """Write a changed lead if nobody changed it since `expected_version`; returns it bumped."""
        self.update_many([(lead, expected_version, event, members)])
        return self.get(lead.id)

    def update_many(self, items: Sequence[LeadUpdate]) -> None:
        """Apply many lead updates in one transaction, each checked against its expected
        version; if any lead changed meanwhile, none is written (ConcurrencyError)."""
        with self.db.begin() as conn:
            self._update_leads(conn, items, utcnow())

    def _update_leads(self, conn, items, now: datetime) -> None:
        items = list(items)
        if not items:
            return
        rows = []
        for lead, expected_version, _, _ in items:
            row = {f"v_{k}": v for k, v in lead_row(lead).items() if k != "id"}
            rows.append({**row, "v_version": expected_version + 1, "b_id": lead.id, "b_version": expected_version})
        stmt = update(t.leads).where(t.leads.c.id == bindparam("b_id"), t.leads.c.version == bindparam("b_version")
                                     ).values({k[2:]: bindparam(k) for k in rows[0] if k.startswith("v_")})
        if conn.dialect.supports_sane_multi_rowcount:
            changed = sum(conn.execute(stmt, list(chunk)).rowcount for chunk in chunks(rows))
        else:
            changed = sum(conn.execute(stmt, row).rowcount for row in rows)
        if changed != len(rows):
            current = dict(conn.execute(select(t.leads.c.id, t.leads.c.version).where(
                t.leads.c.id.in_([r["b_id"] for r in rows]))).all())
            for r in rows:
                if r["b_id"] not in current:
                    raise LeadNotFound(r["b_id"])
                if current[r["b_id"]] != r["v_version"]:
                    raise ConcurrencyError(f"lead {r['b_id']} changed since version {r['b_version']}")
            raise ConcurrencyError("a lead was written twice in one update")
        events = [event_row(event) for _, _, event, _ in items if event is not None]
        for chunk in chunks(events):
            conn.execute(t.lead_events.insert(), list(chunk))
        self._attach_many(conn, [(lead.id, pid, sim) for lead, _, _, members in items for pid, sim in members], now)

    def commit_clustering(self, *, updates: Sequence[LeadUpdate] = (), created: Sequence[NewLead] = (),
                          profiles: Sequence[LeadProfile] = (), state: StageState | None = None) -> None:
        """One cluster run's writes in one transaction: lead updates (merged leads first, so
        survivors can take their posts), new leads, lead profiles, and the stage state, whose
        `version` is the one read (ConcurrencyError if another run wrote it since)."""
        now = utcnow()
        with self.db.begin() as conn:
            self._update_leads(conn, updates, now)
            self._create_leads(conn, created, now)
            rows = [profile_row(p, now) for p in profiles]
            for chunk in chunks(rows):
                conn.execute(*self.db.upsert(t.lead_profiles, list(chunk), ["lead_id"]))
            if state is not None:
                self._save_state(conn, state, now)

    def _save_state(self, conn, state: StageState, now: datetime) -> None:
        values = {"version": state.version + 1, "count": int(state.count), "payload": state.payload,
                  "updated_at": now}
        if state.version == 0:
            if conn.execute(select(t.stage_state.c.name).where(t.stage_state.c.name == state.name)).first():
                raise ConcurrencyError(f"stage state {state.name} was created by another run")
            conn.execute(t.stage_state.insert().values(name=state.name, **values))
            return
        res = conn.execute(update(t.stage_state).where(
            t.stage_state.c.name == state.name, t.stage_state.c.version == state.version).values(**values))
        if res.rowcount != 1:
            raise ConcurrencyError(f"stage state {state.name} changed since version {state.version}")

    def stage_state(self, name: str) -> StageState | None:
        with self.db.connect() as conn:
            r = conn.execute(select(t.stage_state).where(t.stage_state.c.name == name)).first()
        return None if r is None else StageState(r.name, r.version, r.count, bytes(r.payload))

    def anchors(self, open_since: datetime, closed_since: datetime, ids: Sequence[str] | None = None
                ) -> list[tuple[Lead, LeadProfile | None]]:
        """Leads a new post may join: growing ones (new, under triage, dispatched, rejected:
        a rejected lead keeps collecting its posts) seen since `open_since`, closed ones seen
        since `closed_since`, each with its profile (None for a lead written before profiles).
        With `ids`, only those of them (the candidates a kNN lookup found)."""
        lpr = t.lead_profiles
        q = (select(t.leads, lpr.c.members, lpr.c.features, lpr.c.weights, lpr.c.lat.label("profile_lat"),
                    lpr.c.lon.label("profile_lon"), lpr.c.tally, lpr.c.representative, lpr.c.embedding,
                    lpr.c.embedding_model, lpr.c.place_key)
             .outerjoin(t.lead_profiles, t.lead_profiles.c.lead_id == t.leads.c.id)
             .where(t.leads.c.last_seen >= min(open_since, closed_since),
                    ((t.leads.c.status.in_(GROWING)
                      & (t.leads.c.last_seen >= open_since))
                     | ((t.leads.c.status == LeadStatus.CLOSED.value) & (t.leads.c.last_seen >= closed_since))))
             .order_by(t.leads.c.id))
        with self.db.connect() as conn:
            if ids is None:
                return [(lead_from_row(r), profile_from_row(r)) for r in conn.execute(q)]
            out = []
            for chunk in chunks(sorted(set(ids))):
                out += [(lead_from_row(r), profile_from_row(r)) for r in conn.execute(q.where(t.leads.c.id.in_(chunk)))]
            return sorted(out, key=lambda pair: pair[0].id)

    def centroids(self, lead_ids: Sequence[str]) -> dict[str, tuple[str, np.ndarray]]:
        """lead id -> (embedding model, embedding centroid) for those of `lead_ids` that have one."""
        lpr = t.lead_profiles
        out: dict[str, tuple[str, np.ndarray]] = {}
        with self.db.connect() as conn:
            for chunk in chunks(list(dict.fromkeys(lead_ids))):
                q = (select(lpr.c.lead_id, lpr.c.embedding, lpr.c.embedding_model)
                     .where(lpr.c.lead_id.in_(chunk), lpr.c.embedding.is_not(None)))
                for r in conn.execute(q):
                    vector = stored_embedding(r.lead_id, r.embedding)
                    if vector is not None:
                        out[r.lead_id] = (r.embedding_model, vector)
        return out

    def anchors_at(self, place_keys: Sequence[str], exclude: Sequence[str] = (),
                   statuses: Sequence[LeadStatus] | None = None, latest: int | None = None
                   ) -> list[tuple[Lead, LeadProfile | None]]:
        """Leads (growing ones unless `statuses` says) whose members mostly name one of
        `place_keys`, however long ago they were last seen (an index lookup: the time window
        bounds the scan, not the problem). With `latest`, only the `latest` most recently seen
        at each place (ties by id): closed leads pile up at a place for as long as the radar
        runs, and a caller that only needs the recent ones must not pay for all of them."""
        keys = sorted({k for k in place_keys if k})
        if not keys:
            return []
        lpr = t.lead_profiles
        skip = set(exclude)
        status_in = t.leads.c.status.in_([s.value for s in statuses] if statuses else GROWING)
        out = []
        with self.db.connect() as conn:
            for chunk in chunks(keys):
                q = (select(t.leads, lpr.c.members, lpr.c.features, lpr.c.weights, lpr.c.lat.label("profile_lat"),
                            lpr.c.lon.label("profile_lon"), lpr.c.tally, lpr.c.representative, lpr.c.embedding,
                            lpr.c.embedding_model, lpr.c.place_key)
                     .join(t.leads, t.leads.c.id == lpr.c.lead_id)
                     .where(lpr.c.place_key.in_(chunk), status_in)
                     .order_by(t.leads.c.id))
                if latest is not None:
                    rank = (func.row_number()
                            .over(partition_by=lpr.c.place_key,
                                  order_by=(t.leads.c.last_seen.desc(), t.leads.c.id.desc())).label("rank"))
                    ranked = (select(lpr.c.lead_id, rank).join(t.leads, t.leads.c.id == lpr.c.lead_id)
                              .where(lpr.c.place_key.in_(chunk), status_in).subquery())
                    q = q.join(ranked, ranked.c.lead_id == lpr.c.lead_id).where(ranked.c.rank <= latest)
                out += [(lead_from_row(r), profile_from_row(r)) for r in conn.execute(q) if r.id not in skip]
        return out

    def profiles(self, lead_ids: Sequence[str]) -> dict[str, LeadProfile]:
        """The stored profiles of those leads that have one."""
        lpr = t.lead_profiles
        out: dict[str, LeadProfile] = {}
        with self.db.connect() as conn:
            for chunk in chunks(list(dict.fromkeys(lead_ids))):
                q = (select(t.leads.c.id, lpr.c.members, lpr.c.features, lpr.c.weights,
                            lpr.c.lat.label("profile_lat"), lpr.c.lon.label("profile_lon"), lpr.c.tally,
                            lpr.c.representative, lpr.c.embedding, lpr.c.embedding_model, lpr.c.place_key)
                     .join(lpr, lpr.c.lead_id == t.leads.c.id).where(t.leads.c.id.in_(chunk)))
                for r in conn.execute(q):
                    out[r.id] = profile_from_row(r)
        return out

    def of_posts(self, post_ids: Sequence[str]) -> dict[str, str]:
        """post id -> the lead it is in, for those of `post_ids` that are in one."""
        out: dict[str, str] = {}
        with self.db.connect() as conn:
            for chunk in chunks(list(dict.fromkeys(post_ids))):
                q = select(t.lead_posts.c.post_id, t.lead_posts.c.lead_id).where(t.lead_posts.c.post_id.in_(chunk))
                out.update({p: lead for p, lead in conn.execute(q)})
        return out

    def of_text_hashes(self, text_hashes: Sequence[str]) -> dict[str, set[str]]:
        """normalized-text hash -> the leads holding a post with exactly that text."""
        out: dict[str, set[str]] = {}
        with self.db.connect() as conn:
            for chunk in chunks(list(dict.fromkeys(text_hashes))):
                q = (select(t.enrichments.c.text_hash, t.lead_posts.c.lead_id)
                     .join(t.lead_posts, t.lead_posts.c.post_id == t.enrichments.c.post_id)
                     .where(t.enrichments.c.text_hash.in_(chunk)))
                for h, lead in conn.execute(q):
                    out.setdefault(h, set()).add(lead)
        return out

    def _attach_many(self, conn, rows: Sequence[tuple[str, str, float | None]], now: datetime) -> None:
        """Put posts in leads; a post belongs to one lead, so re-attaching (a merge) moves it.
        A similarity of None moves the post and keeps the similarity it joined with."""
        values = [{"post_id": pid, "lead_id": lead_id, "similarity": float(sim), "joined_at": now}
                  for lead_id, pid, sim in rows if sim is not None]
        for chunk in chunks(values):
            conn.execute(*self.db.upsert(t.lead_posts, list(chunk), ["post_id"], ["lead_id", "similarity"]))
        moves: dict[str, list[str]] = {}
        for lead_id, pid, sim in rows:
            if sim is None:
                moves.setdefault(lead_id, []).append(pid)
        for lead_id, pids in moves.items():
            for chunk in chunks(pids):
                conn.execute(update(t.lead_posts).where(t.lead_posts.c.post_id.in_(chunk)).values(lead_id=lead_id))

    def get(self, lead_id: str) -> Lead:
        with self.db.connect() as conn:
            row = conn.execute(select(t.leads).where(t.leads.c.id == lead_id)).first()
        if row is None:
            raise LeadNotFound(lead_id)
        return lead_from_row(row)

    def seen_since(self, since: datetime, statuses: Sequence[LeadStatus]) -> list[Lead]:
        q = select(t.leads).where(t.leads.c.last_seen >= since,
                                  t.leads.c.status.in_([s.value for s in statuses]))
        with self.db.connect() as conn:
            return [lead_from_row(r) for r in conn.execute(q.order_by(t.leads.c.id))]

    def iter_all(self, batch: int = 1000, updated_since: datetime | None = None) -> Iterator[list[Lead]]:
        """Every lead (changed at or after `updated_since` when given), `batch` at a time in id
        order (keyset paging)."""
        last_id = ""
        while True:
            q = select(t.leads).where(t.leads.c.id > last_id).order_by(t.leads.c.id).limit(batch)
            if updated_since is not None:
                q = q.where(t.leads.c.updated_at >= updated_since)
            with self.db.connect() as conn:
                rows = conn.execute(q).all()
            if not rows:
                return
            last_id = rows[-1].id
            yield [lead_from_row(r) for r in rows]

    def member_ids(self, lead_ids: Sequence[str]) -> dict[str, list[str]]:
        out: dict[str, list[str]] = {lid: [] for lid in lead_ids}
        with self.db.connect() as conn:
            for chunk in chunks(list(lead_ids)):
                q = select(t.lead_posts.c.lead_id, t.lead_posts.c.post_id).where(
                    t.lead_posts.c.lead_id.in_(chunk)).order_by(t.lead_posts.c.post_id)
                for lead_id, post_id in conn.execute(q):
                    out[lead_id].append(post_id)
        return out

    def tallies(self, lead_ids: Sequence[str], recent_since: datetime) -> dict[str, LeadTally]:
        """Each lead's members summed up in SQL, for leads whose profile keeps no tally; `recent`
        holds the publish times of members published at or after `recent_since`. Leads with no
        member are left out."""
        lp, p, e = t.lead_posts, t.posts, t.enrichments
        base = lp.join(p, p.c.id == lp.c.post_id).join(e, e.c.post_id == lp.c.post_id)
        totals: dict[str, tuple] = {}
        recent: dict[str, list[datetime]] = {}
        counts: dict[str, dict[str, dict]] = {}
        with self.db.connect() as conn:
            for chunk in chunks(list(dict.fromkeys(lead_ids))):
                where = lp.c.lead_id.in_(chunk)
                q = (select(lp.c.lead_id, func.count(), func.sum(p.c.likes + p.c.comments + p.c.shares),
                            func.min(p.c.published_at), func.max(p.c.published_at),
                            func.max(case((e.c.urgent.is_(True), 1), else_=0)))
                     .select_from(base).where(where).group_by(lp.c.lead_id))
                for lead_id, n, engagement, first, last, urgent in conn.execute(q):
                    totals[lead_id] = (n, int(engagement or 0), first, last, bool(urgent))
                    recent[lead_id] = []
                    counts[lead_id] = {"platforms": {}, "categories": {}, "districts": {}, "streets": {},
                                       "places": {}}
                q = (select(lp.c.lead_id, p.c.published_at).select_from(base)
                     .where(where, p.c.published_at >= recent_since).order_by(p.c.published_at))
                for lead_id, at in conn.execute(q):
                    recent[lead_id].append(at)
                for name, columns, extra in (
                        ("platforms", (p.c.platform,), ()),
                        ("categories", (e.c.category,), (e.c.category.is_not(None),)),
                        ("districts", (e.c.district,), (e.c.district.is_not(None),)),
                        ("streets", (e.c.district, e.c.street), (e.c.district.is_not(None), e.c.street.is_not(None))),
                        ("places", (e.c.lat, e.c.lon), (e.c.location_precision == "place", e.c.lat.is_not(None),
                                                        e.c.lon.is_not(None)))):
                    q = (select(lp.c.lead_id, *columns, func.count()).select_from(base)
                         .where(where, *extra).group_by(lp.c.lead_id, *columns))
                    for row in conn.execute(q):
                        key = row[1] if len(columns) == 1 else tuple(row[1:1 + len(columns)])
                        counts[row[0]][name][key] = row[-1]
        return {lid: LeadTally(n, engagement, first, last, urgent, tuple(recent[lid]),
                               frozenset(counts[lid]["platforms"]), counts[lid]["categories"],
                               counts[lid]["districts"], counts[lid]["streets"], counts[lid]["places"])
                for lid, (n, engagement, first, last, urgent) in totals.items()}

    def edge_ids(self, lead_ids: Sequence[str], k: int) -> dict[str, list[str]]:
        """Each lead's `k` earliest and `k` latest member ids (by publish time, then id), oldest
        first: a bounded sample for titles and keywords however large the lead."""
        lp, p = t.lead_posts, t.posts
        out: dict[str, list[str]] = {lid: [] for lid in lead_ids}
        with self.db.connect() as conn:
            for chunk in chunks(list(dict.fromkeys(lead_ids))):
                early = func.row_number().over(partition_by=lp.c.lead_id,
                                               order_by=(p.c.published_at, lp.c.post_id)).label("early")
                late = func.row_number().over(partition_by=lp.c.lead_id,
                                              order_by=(p.c.published_at.desc(), lp.c.post_id.desc())).label("late")
                ranked = (select(lp.c.lead_id, lp.c.post_id, p.c.published_at, early, late)
                          .join(p, p.c.id == lp.c.post_id).where(lp.c.lead_id.in_(chunk)).subquery())
                q = (select(ranked.c.lead_id, ranked.c.post_id)
                     .where((ranked.c.early <= k) | (ranked.c.late <= k))
                     .order_by(ranked.c.lead_id, ranked.c.published_at, ranked.c.post_id))
                for lead_id, post_id in conn.execute(q):
                    out[lead_id].append(post_id)
        return out

    def posts(self, lead_id: str) -> list[EnrichedPost]:
        ids = self.member_ids([lead_id])[lead_id]
        posts = PostRepository(self.db).enriched(ids)
        return sorted(posts, key=lambda ep: (ep.post.published_at, ep.id))

    def events(self, lead_id: str) -> list[LeadEvent]:
        q = select(t.lead_events).where(t.lead_events.c.lead_id == lead_id).order_by(t.lead_events.c.id)
        with self.db.connect() as conn:
            return [LeadEvent(lead_id=r.lead_id, kind=r.kind, actor=r.actor, at=r.at,
                              detail=r.detail, id=r.id) for r in conn.execute(q)]

    # Last in the class: below it, `list` in an annotation would name this method, not the builtin.
    def list(self, *, status: str | None = None, district: str | None = None,
             category: str | None = None, limit: int = 50, offset: int = 0) -> tuple[int, list[Lead]]:
        """(how many leads match, the page of them by priority, highest first)."""
        conds = []
        if status:
            conds.append(t.leads.c.status == status)
        if district:
            conds.append(t.leads.c.district == district)
        if category:
            conds.append(t.leads.c.category == category)
        where = and_(*conds) if conds else True
        with self.db.connect() as conn:
            total = conn.execute(select(func.count()).select_from(t.leads).where(where)).scalar_one()
            rows = conn.execute(select(t.leads).where(where)
                                .order_by(t.leads.c.priority.desc(), t.leads.c.id)
                                .limit(limit).offset(offset)).all()
        return total, [lead_from_row(r) for r in rows]
