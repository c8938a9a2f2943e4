"""The workflow and post store: one class over SQLAlchemy, SQLite by default, PostgreSQL at scale.

Every write is an upsert keyed by a stable id, so any stage can be re-run or resumed.
"""
from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import asdict
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
from sqlalchemy import Engine, and_, bindparam, case, create_engine, event, func, select, update
from sqlalchemy.dialects import postgresql, sqlite

from core.models import (Checkpoint, CrawlRun, EnrichedPost, Enrichment, Engagement, Lead,
                         LeadEvent, LeadProfile, LeadStatus, LeadTally, Post, PriorityParts, StageRun,
                         StageState, UpsertResult, Window, utcnow)
from core.store import tables as t

log = logging.getLogger(__name__)

BATCH = 500  # rows per statement: keeps SQLite's variable limit and PostgreSQL round trips sane


class StoreError(Exception):
    """A store operation failed."""


class LeadNotFound(StoreError):
    """No lead with that id."""


class ConcurrencyError(StoreError):
    """The lead changed since it was read (optimistic concurrency)."""


def content_hash(post: Post) -> str:
    """Hash of what a re-crawl may change; equal hashes mean nothing new to store."""
    # UTC, because a post read back from the store must hash as it did when crawled (+08:00).
    published = post.published_at.astimezone(timezone.utc).isoformat()
    parts = [post.url, post.author_name, post.title or "", post.text, published,
             json.dumps(asdict(post.engagement), sort_keys=True), post.geotag or "",
             "|".join(post.media), post.reposted_id or ""]
    return hashlib.sha1("\x1f".join(parts).encode()).hexdigest()


def _chunks(items: Sequence, size: int = BATCH) -> Iterator[Sequence]:
    for i in range(0, len(items), size):
        yield items[i:i + size]


def _sqlite_pragmas(dbapi_conn, _record) -> None:
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA synchronous=NORMAL")
    cur.execute("PRAGMA foreign_keys=ON")
    cur.execute("PRAGMA busy_timeout=30000")
    cur.close()


class Store:
    """All persistent state. Open with `Store.open(url)`, which migrates to the latest schema."""

    def __init__(self, engine: Engine):
        self.engine = engine
        self._insert = postgresql.insert if engine.dialect.name == "postgresql" else sqlite.insert

    @classmethod
    def open(cls, url: str, migrate: bool = True) -> "Store":
        if url.startswith("sqlite:///"):
            Path(url.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
            engine = create_engine(url, connect_args={"timeout": 30})
            event.listen(engine, "connect", _sqlite_pragmas)
        else:
            engine = create_engine(url, pool_pre_ping=True)
        store = cls(engine)
        if migrate:
            store.migrate()
        return store

    def migrate(self) -> None:
        from core.store.migrate import upgrade
        upgrade(self.engine)

    def close(self) -> None:
        self.engine.dispose()

    @property
    def backend(self) -> str:
        return self.engine.dialect.name

    def _upsert(self, table, rows: list[dict], keys: list[str], update_cols: list[str] | None = None):
        stmt = self._insert(table)
        if update_cols is None:
            update_cols = [c.name for c in table.columns if c.name not in keys]
        if update_cols:
            stmt = stmt.on_conflict_do_update(index_elements=keys,
                                              set_={c: stmt.excluded[c] for c in update_cols})
        else:
            stmt = stmt.on_conflict_do_nothing(index_elements=keys)
        return stmt, rows

    # --- posts -------------------------------------------------------------------------------

    def upsert_posts(self, posts: Iterable[Post]) -> UpsertResult:
        by_id: dict[str, Post] = {}
        for p in posts:
            by_id[p.id] = p  # the last copy of a post within one batch wins
        new = updated = unchanged = 0
        now = utcnow()
        items = list(by_id.values())
        with self.engine.begin() as conn:
            for chunk in _chunks(items):
                ids = [p.id for p in chunk]
                existing = dict(conn.execute(
                    select(t.posts.c.id, t.posts.c.content_hash).where(t.posts.c.id.in_(ids))).all())
                rows = []
                for p in chunk:
                    h = content_hash(p)
                    if p.id not in existing:
                        new += 1
                    elif existing[p.id] != h:
                        updated += 1
                    else:
                        unchanged += 1
                        continue
                    rows.append(_post_row(p, h, now))
                if rows:
                    conn.execute(*self._upsert(t.posts, rows, ["id"]))
        return UpsertResult(new=new, updated=updated, unchanged=unchanged)

    def get_posts(self, ids: Sequence[str]) -> list[Post]:
        out: dict[str, Post] = {}
        with self.engine.connect() as conn:
            for chunk in _chunks(list(ids)):
                for row in conn.execute(select(t.posts).where(t.posts.c.id.in_(chunk))):
                    out[row.id] = _post_from_row(row)
        return [out[i] for i in ids if i in out]

    def iter_posts_to_enrich(self, window: Window, batch: int = 2000) -> Iterator[list[Post]]:
        """Posts published in the window that were never enriched or changed since."""
        last_id = ""
        while True:
            q = (select(t.posts)
                 .outerjoin(t.enrichments, t.enrichments.c.post_id == t.posts.c.id)
                 .where(t.posts.c.published_at >= window.start, t.posts.c.published_at < window.end,
                        t.posts.c.id > last_id)
                 .where((t.enrichments.c.post_id.is_(None))
                        | (t.enrichments.c.source_hash != t.posts.c.content_hash))
                 .order_by(t.posts.c.id).limit(batch))
            with self.engine.connect() as conn:
                rows = conn.execute(q).all()
            if not rows:
                return
            last_id = rows[-1].id
            yield [_post_from_row(r) for r in rows]

    def save_enrichments(self, items: Sequence[tuple[Post, Enrichment]]) -> int:
        now = utcnow()
        with self.engine.begin() as conn:
            for chunk in _chunks(list(items)):
                rows = [_enrichment_row(p, e, now) for p, e in chunk]
                conn.execute(*self._upsert(t.enrichments, rows, ["post_id"]))
        return len(items)

    def enriched_posts(self, ids: Sequence[str]) -> list[EnrichedPost]:
        out: dict[str, EnrichedPost] = {}
        with self.engine.connect() as conn:
            for chunk in _chunks(list(ids)):
                q = select(t.posts, t.enrichments).join(
                    t.enrichments, t.enrichments.c.post_id == t.posts.c.id).where(t.posts.c.id.in_(chunk))
                for row in conn.execute(q):
                    out[row.id] = EnrichedPost(_post_from_row(row), _enrichment_from_row(row))
        return [out[i] for i in ids if i in out]

    def unassigned_relevant(self, window: Window, relevant_only: bool = True) -> list[EnrichedPost]:
        """Relevant (or, for offline analysis, all enriched) posts in the window that belong to
        no lead yet, oldest first."""
        q = (select(t.posts, t.enrichments)
             .join(t.enrichments, t.enrichments.c.post_id == t.posts.c.id)
             .outerjoin(t.lead_posts, t.lead_posts.c.post_id == t.posts.c.id)
             .where(t.enrichments.c.relevant.is_(True) if relevant_only else True,
                    t.lead_posts.c.post_id.is_(None),
                    t.posts.c.published_at >= window.start, t.posts.c.published_at < window.end)
             .order_by(t.posts.c.published_at, t.posts.c.id))
        with self.engine.connect() as conn:
            return [EnrichedPost(_post_from_row(r), _enrichment_from_row(r)) for r in conn.execute(q)]

    # --- embedding cache ---------------------------------------------------------------------

    def get_embeddings(self, model: str, text_hashes: Sequence[str]) -> dict[str, np.ndarray]:
        """Cached float32 vectors of `model` for those text hashes; hashes not cached are absent."""
        out: dict[str, np.ndarray] = {}
        with self.engine.connect() as conn:
            for chunk in _chunks(list(dict.fromkeys(text_hashes))):
                q = select(t.embeddings.c.text_hash, t.embeddings.c.dim, t.embeddings.c.vector).where(
                    t.embeddings.c.model == model, t.embeddings.c.text_hash.in_(chunk))
                for text_hash, dim, blob in conn.execute(q):
                    vec = np.frombuffer(bytes(blob), dtype="<f4")
                    if vec.size != dim:
                        raise StoreError(f"embedding {model}/{text_hash}: {vec.size} values, dim {dim}")
                    out[text_hash] = vec.astype(np.float32)  # a writable copy in native order
        return out

    def put_embeddings(self, model: str, items: Sequence[tuple[str, np.ndarray]]) -> int:
        """Upsert (text_hash, vector) pairs for `model`; the last copy of a hash wins."""
        now = utcnow()
        rows: dict[str, dict] = {}
        for text_hash, vector in items:
            vec = np.asarray(vector, dtype="<f4").ravel()
            rows[text_hash] = {"model": model, "text_hash": text_hash, "dim": int(vec.size),
                               "vector": vec.tobytes(), "created_at": now}
        with self.engine.begin() as conn:
            for chunk in _chunks(list(rows.values())):
                conn.execute(*self._upsert(t.embeddings, list(chunk), ["model", "text_hash"]))
        return len(rows)

    # --- leads -------------------------------------------------------------------------------

    def create_lead(self, lead: Lead, members: Sequence[tuple[str, float]], event: LeadEvent) -> None:
        self.create_leads([(lead, members, event)])

    def create_leads(self, items: Sequence[tuple[Lead, Sequence[tuple[str, float]], LeadEvent]]) -> None:
        """Create many leads with their members and events in one transaction."""
        with self.engine.begin() as conn:
            self._create_leads(conn, items, utcnow())

    def _create_leads(self, conn, items, now: datetime) -> None:
        for chunk in _chunks(list(items)):
            conn.execute(t.leads.insert(), [{**_lead_row(lead), "created_at": now} for lead, _, _ in chunk])
            conn.execute(t.lead_events.insert(), [_event_row(event) for _, _, event in chunk])
        self._attach_many(conn, [(lead.id, pid, sim) for lead, members, _ in items for pid, sim in members], now)

    def update_lead(self, lead: Lead, expected_version: int, event: LeadEvent | None = None,
                    members: Sequence[tuple[str, float]] = ()) -> Lead:
        """Write a changed lead if nobody changed it since `expected_version`; returns it bumped."""
        self.update_leads([(lead, expected_version, event, members)])
        return self.get_lead(lead.id)

    def update_leads(self, items: Sequence[tuple[Lead, int, LeadEvent | None, Sequence[tuple[str, float]]]]) -> None:
        """Apply many lead updates in one transaction, each checked against its expected
        version; if any lead changed meanwhile, none is written (ConcurrencyError)."""
        with self.engine.begin() as conn:
            self._update_leads(conn, items, utcnow())

    def _update_leads(self, conn, items, now: datetime) -> None:
        items = list(items)
        if not items:
            return
        rows = []
        for lead, expected_version, _, _ in items:
            row = {f"v_{k}": v for k, v in _lead_row(lead).items() if k != "id"}
            rows.append({**row, "v_version": expected_version + 1, "b_id": lead.id, "b_version": expected_version})
        stmt = update(t.leads).where(t.leads.c.id == bindparam("b_id"), t.leads.c.version == bindparam("b_version")
                                     ).values({k[2:]: bindparam(k) for k in rows[0] if k.startswith("v_")})
        if conn.dialect.supports_sane_multi_rowcount:
            changed = sum(conn.execute(stmt, list(chunk)).rowcount for chunk in _chunks(rows))
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
        events = [_event_row(event) for _, _, event, _ in items if event is not None]
        for chunk in _chunks(events):
            conn.execute(t.lead_events.insert(), list(chunk))
        self._attach_many(conn, [(lead.id, pid, sim) for lead, _, _, members in items for pid, sim in members], now)

    def commit_clustering(self, *, updates: Sequence = (), created: Sequence = (),
                          profiles: Sequence[LeadProfile] = (), state: StageState | None = None) -> None:
        """One cluster run's writes in one transaction: lead updates (merged leads first, so
        survivors can take their posts), new leads, lead profiles, and the stage state, whose
        `version` is the one read (ConcurrencyError if another run wrote it since)."""
        now = utcnow()
        with self.engine.begin() as conn:
            self._update_leads(conn, updates, now)
            self._create_leads(conn, created, now)
            rows = [{"lead_id": p.lead_id, "members": int(p.members),
                     "features": np.asarray(p.features, dtype="<i4").tobytes(),
                     "weights": np.asarray(p.weights, dtype="<f4").tobytes(), "lat": p.lat, "lon": p.lon,
                     "tally": tally_to_json(p.tally) if p.tally else None, "representative": p.representative,
                     "embedding": (np.asarray(p.embedding, dtype="<f4").tobytes()
                                   if p.embedding is not None else None),
                     "embedding_model": p.embedding_model if p.embedding is not None else None,
                     "updated_at": now}
                    for p in profiles]
            for chunk in _chunks(rows):
                conn.execute(*self._upsert(t.lead_profiles, list(chunk), ["lead_id"]))
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
        with self.engine.connect() as conn:
            r = conn.execute(select(t.stage_state).where(t.stage_state.c.name == name)).first()
        return None if r is None else StageState(r.name, r.version, r.count, bytes(r.payload))

    def anchor_leads(self, open_since: datetime, closed_since: datetime
                     ) -> list[tuple[Lead, LeadProfile | None]]:
        """Leads a new post may join: open ones seen since `open_since`, closed ones seen since
        `closed_since`, each with its profile (None for a lead written before profiles)."""
        lpr = t.lead_profiles
        q = (select(t.leads, lpr.c.members, lpr.c.features, lpr.c.weights, lpr.c.lat.label("profile_lat"),
                    lpr.c.lon.label("profile_lon"), lpr.c.tally, lpr.c.representative, lpr.c.embedding,
                    lpr.c.embedding_model)
             .outerjoin(t.lead_profiles, t.lead_profiles.c.lead_id == t.leads.c.id)
             .where(t.leads.c.last_seen >= min(open_since, closed_since),
                    ((t.leads.c.status.in_([LeadStatus.NEW.value, LeadStatus.VERIFIED.value])
                      & (t.leads.c.last_seen >= open_since))
                     | ((t.leads.c.status == LeadStatus.CLOSED.value) & (t.leads.c.last_seen >= closed_since))))
             .order_by(t.leads.c.id))
        out = []
        with self.engine.connect() as conn:
            for r in conn.execute(q):
                profile = None
                if r.features is not None:
                    features = np.frombuffer(bytes(r.features), dtype="<i4").astype(np.int32)
                    weights = np.frombuffer(bytes(r.weights), dtype="<f4").astype(np.float32)
                    if features.size != weights.size:
                        raise StoreError(f"lead profile {r.id}: {features.size} features, {weights.size} weights")
                    profile = LeadProfile(r.id, r.members, features, weights, r.profile_lat, r.profile_lon,
                                          _stored_tally(r.id, r.tally), r.representative,
                                          _stored_embedding(r.id, r.embedding), r.embedding_model)
                out.append((_lead_from_row(r), profile))
        return out

    def lead_of_posts(self, post_ids: Sequence[str]) -> dict[str, str]:
        """post id -> the lead it is in, for those of `post_ids` that are in one."""
        out: dict[str, str] = {}
        with self.engine.connect() as conn:
            for chunk in _chunks(list(dict.fromkeys(post_ids))):
                q = select(t.lead_posts.c.post_id, t.lead_posts.c.lead_id).where(t.lead_posts.c.post_id.in_(chunk))
                out.update({p: lead for p, lead in conn.execute(q)})
        return out

    def leads_of_text_hashes(self, text_hashes: Sequence[str]) -> dict[str, set[str]]:
        """normalized-text hash -> the leads holding a post with exactly that text."""
        out: dict[str, set[str]] = {}
        with self.engine.connect() as conn:
            for chunk in _chunks(list(dict.fromkeys(text_hashes))):
                q = (select(t.enrichments.c.text_hash, t.lead_posts.c.lead_id)
                     .join(t.lead_posts, t.lead_posts.c.post_id == t.enrichments.c.post_id)
                     .where(t.enrichments.c.text_hash.in_(chunk)))
                for h, lead in conn.execute(q):
                    out.setdefault(h, set()).add(lead)
        return out

    def _attach(self, conn, lead_id: str, members: Sequence[tuple[str, float]], now: datetime) -> None:
        self._attach_many(conn, [(lead_id, pid, sim) for pid, sim in members], now)

    def _attach_many(self, conn, rows: Sequence[tuple[str, str, float | None]], now: datetime) -> None:
        """Put posts in leads; a post belongs to one lead, so re-attaching (a merge) moves it.
        A similarity of None moves the post and keeps the similarity it joined with."""
        values = [{"post_id": pid, "lead_id": lead_id, "similarity": float(sim), "joined_at": now}
                  for lead_id, pid, sim in rows if sim is not None]
        for chunk in _chunks(values):
            conn.execute(*self._upsert(t.lead_posts, list(chunk), ["post_id"], ["lead_id", "similarity"]))
        moves: dict[str, list[str]] = {}
        for lead_id, pid, sim in rows:
            if sim is None:
                moves.setdefault(lead_id, []).append(pid)
        for lead_id, pids in moves.items():
            for chunk in _chunks(pids):
                conn.execute(update(t.lead_posts).where(t.lead_posts.c.post_id.in_(chunk)).values(lead_id=lead_id))

    def get_lead(self, lead_id: str) -> Lead:
        with self.engine.connect() as conn:
            row = conn.execute(select(t.leads).where(t.leads.c.id == lead_id)).first()
        if row is None:
            raise LeadNotFound(lead_id)
        return _lead_from_row(row)

    def leads_seen_since(self, since: datetime, statuses: Sequence[LeadStatus]) -> list[Lead]:
        q = select(t.leads).where(t.leads.c.last_seen >= since,
                                  t.leads.c.status.in_([s.value for s in statuses]))
        with self.engine.connect() as conn:
            return [_lead_from_row(r) for r in conn.execute(q.order_by(t.leads.c.id))]

    def list_leads(self, *, status: str | None = None, district: str | None = None,
                   category: str | None = None, limit: int = 50, offset: int = 0) -> tuple[int, list[Lead]]:
        conds = []
        if status:
            conds.append(t.leads.c.status == status)
        if district:
            conds.append(t.leads.c.district == district)
        if category:
            conds.append(t.leads.c.category == category)
        where = and_(*conds) if conds else True
        with self.engine.connect() as conn:
            total = conn.execute(select(func.count()).select_from(t.leads).where(where)).scalar_one()
            rows = conn.execute(select(t.leads).where(where)
                                .order_by(t.leads.c.priority.desc(), t.leads.c.id)
                                .limit(limit).offset(offset)).all()
        return total, [_lead_from_row(r) for r in rows]

    def lead_member_ids(self, lead_ids: Sequence[str]) -> dict[str, list[str]]:
        out: dict[str, list[str]] = {lid: [] for lid in lead_ids}
        with self.engine.connect() as conn:
            for chunk in _chunks(list(lead_ids)):
                q = select(t.lead_posts.c.lead_id, t.lead_posts.c.post_id).where(
                    t.lead_posts.c.lead_id.in_(chunk)).order_by(t.lead_posts.c.post_id)
                for lead_id, post_id in conn.execute(q):
                    out[lead_id].append(post_id)
        return out

    def lead_tallies(self, lead_ids: Sequence[str], recent_since: datetime) -> dict[str, LeadTally]:
        """Each lead's members summed up in SQL, for leads whose profile keeps no tally; `recent`
        holds the publish times of members published at or after `recent_since`. Leads with no
        member are left out."""
        lp, p, e = t.lead_posts, t.posts, t.enrichments
        base = lp.join(p, p.c.id == lp.c.post_id).join(e, e.c.post_id == lp.c.post_id)
        totals: dict[str, tuple] = {}
        recent: dict[str, list[datetime]] = {}
        counts: dict[str, dict[str, dict]] = {}
        with self.engine.connect() as conn:
            for chunk in _chunks(list(dict.fromkeys(lead_ids))):
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

    def lead_edge_ids(self, lead_ids: Sequence[str], k: int) -> dict[str, list[str]]:
        """Each lead's `k` earliest and `k` latest member ids (by publish time, then id), oldest
        first: a bounded sample for titles and keywords however large the lead."""
        lp, p = t.lead_posts, t.posts
        out: dict[str, list[str]] = {lid: [] for lid in lead_ids}
        with self.engine.connect() as conn:
            for chunk in _chunks(list(dict.fromkeys(lead_ids))):
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

    def lead_posts(self, lead_id: str) -> list[EnrichedPost]:
        ids = self.lead_member_ids([lead_id])[lead_id]
        posts = self.enriched_posts(ids)
        return sorted(posts, key=lambda ep: (ep.post.published_at, ep.id))

    def lead_events(self, lead_id: str) -> list[LeadEvent]:
        q = select(t.lead_events).where(t.lead_events.c.lead_id == lead_id).order_by(t.lead_events.c.id)
        with self.engine.connect() as conn:
            return [LeadEvent(lead_id=r.lead_id, kind=r.kind, actor=r.actor, at=r.at,
                              detail=r.detail, id=r.id) for r in conn.execute(q)]

    # --- crawl state -------------------------------------------------------------------------

    def get_checkpoint(self, platform: str, query: str) -> Checkpoint:
        with self.engine.connect() as conn:
            row = conn.execute(select(t.checkpoints).where(
                t.checkpoints.c.platform == platform, t.checkpoints.c.query == query)).first()
        if row is None:
            return Checkpoint(platform, query)
        return Checkpoint(row.platform, row.query, row.high_water, row.cursor,
                          row.pending_high_water, row.updated_at)

    def save_checkpoint(self, cp: Checkpoint) -> None:
        row = {"platform": cp.platform, "query": cp.query, "high_water": cp.high_water,
               "cursor": cp.cursor, "pending_high_water": cp.pending_high_water, "updated_at": utcnow()}
        with self.engine.begin() as conn:
            conn.execute(*self._upsert(t.checkpoints, [row], ["platform", "query"]))

    def checkpoints(self) -> list[Checkpoint]:
        with self.engine.connect() as conn:
            rows = conn.execute(select(t.checkpoints).order_by(t.checkpoints.c.platform,
                                                                 t.checkpoints.c.query)).all()
        return [Checkpoint(r.platform, r.query, r.high_water, r.cursor, r.pending_high_water,
                           r.updated_at) for r in rows]

    def record_crawl_run(self, run: CrawlRun) -> None:
        with self.engine.begin() as conn:
            conn.execute(t.crawl_runs.insert().values(**asdict(run)))

    def crawl_runs(self, limit: int = 50) -> list[CrawlRun]:
        q = select(t.crawl_runs).order_by(t.crawl_runs.c.id.desc()).limit(limit)
        with self.engine.connect() as conn:
            return [CrawlRun(r.platform, r.query, r.started_at, r.finished_at, r.status, r.pages,
                             r.posts_new, r.posts_updated, r.errors, r.blocked_reason,
                             list(r.alarms or []), r.posts_skipped or 0)
                    for r in conn.execute(q)]

    def record_stage_run(self, run: StageRun) -> None:
        with self.engine.begin() as conn:
            conn.execute(t.stage_runs.insert().values(
                stage=run.stage, window_start=run.window.start, window_end=run.window.end,
                started_at=run.started_at, finished_at=run.finished_at, counts=run.counts))

    def stage_runs(self, limit: int = 20) -> list[StageRun]:
        q = select(t.stage_runs).order_by(t.stage_runs.c.id.desc()).limit(limit)
        with self.engine.connect() as conn:
            return [StageRun(r.stage, Window(r.window_start, r.window_end), r.started_at,
                             r.finished_at, r.counts) for r in conn.execute(q)]

    # --- trends and warnings (clustering/trends.py) -------------------------------------------

    def lead_counts_by_day(self, since: datetime, until: datetime) -> list[tuple[str, str, str, int, int]]:
        """(category, district, UTC day 'YYYY-MM-DD', leads, posts) of leads first seen in
        [since, until), grouped in SQL. Leads without a category or district, and merged or
        rejected leads, are left out."""
        day = func.date(t.leads.c.first_seen)
        q = (select(t.leads.c.category, t.leads.c.district, day.label("day"),
                    func.count().label("leads"), func.coalesce(func.sum(t.leads.c.post_count), 0))
             .where(t.leads.c.first_seen >= since, t.leads.c.first_seen < until,
                    t.leads.c.category.is_not(None), t.leads.c.district.is_not(None),
                    t.leads.c.status.not_in([LeadStatus.MERGED.value, LeadStatus.REJECTED.value]))
             .group_by(t.leads.c.category, t.leads.c.district, day))
        with self.engine.connect() as conn:
            return [(r[0], r[1], str(r[2])[:10], int(r[3]), int(r[4])) for r in conn.execute(q)]

    def count_relevant_posts(self, periods: Sequence[tuple[datetime, datetime]]
                             ) -> dict[tuple[str, str], list[int]]:
        """Relevant enriched posts per (category, district) published in each [start, end) of
        `periods`: one GROUP BY with a conditional sum per period. Posts without a category or
        district are left out; (category, district) pairs with no post in any period too."""
        if not periods:
            return {}
        published = t.posts.c.published_at
        sums = [func.sum(case((and_(published >= a, published < b), 1), else_=0)) for a, b in periods]
        q = (select(t.enrichments.c.category, t.enrichments.c.district, *sums)
             .join(t.posts, t.posts.c.id == t.enrichments.c.post_id)
             .where(t.enrichments.c.relevant.is_(True),
                    t.enrichments.c.category.is_not(None), t.enrichments.c.district.is_not(None),
                    published >= min(a for a, _ in periods), published < max(b for _, b in periods))
             .group_by(t.enrichments.c.category, t.enrichments.c.district))
        with self.engine.connect() as conn:
            return {(r[0], r[1]): [int(v or 0) for v in r[2:]] for r in conn.execute(q)}

    def save_warnings(self, items: Sequence[dict]) -> int:
        """Upsert warnings (dicts of kind, category, district, window_end, count, baseline, ratio)
        keyed by (kind, category, district, window_end): a re-run updates, never duplicates."""
        now = utcnow()
        rows = [{"kind": w["kind"], "category": w["category"], "district": w["district"],
                 "window_end": w["window_end"], "count": int(w["count"]), "baseline": float(w["baseline"]),
                 "ratio": float(w["ratio"]), "created_at": now} for w in items]
        with self.engine.begin() as conn:
            for chunk in _chunks(rows):
                stmt = self._insert(t.warnings)
                stmt = stmt.on_conflict_do_update(
                    index_elements=["kind", "category", "district", "window_end"],
                    set_={c: stmt.excluded[c] for c in ("count", "baseline", "ratio")})
                conn.execute(stmt, list(chunk))
        return len(rows)

    def warnings(self, since: datetime) -> list[dict]:
        """Warnings with a window end at or after `since`, newest first, then strongest."""
        q = (select(t.warnings).where(t.warnings.c.window_end >= since)
             .order_by(t.warnings.c.window_end.desc(), t.warnings.c.ratio.desc(), t.warnings.c.id))
        with self.engine.connect() as conn:
            return [{"id": r.id, "kind": r.kind, "category": r.category, "district": r.district,
                     "window_end": r.window_end, "count": r.count, "baseline": r.baseline,
                     "ratio": r.ratio, "created_at": r.created_at} for r in conn.execute(q)]

    def counts(self) -> dict[str, int]:
        with self.engine.connect() as conn:
            def n(table, *where) -> int:
                return conn.execute(select(func.count()).select_from(table).where(*where)).scalar_one()
            return {
                "posts": n(t.posts),
                "enriched": n(t.enrichments),
                "relevant": n(t.enrichments, t.enrichments.c.relevant.is_(True)),
                "leads": n(t.leads),
                "open_leads": n(t.leads, t.leads.c.status.in_(["new", "verified"])),
                "posts_in_leads": n(t.lead_posts),
                "lead_events": n(t.lead_events),
            }


# --- row mapping ---------------------------------------------------------------------------

def _post_row(p: Post, h: str, now: datetime) -> dict:
    return {"id": p.id, "platform": p.platform, "native_id": p.native_id, "url": p.url,
            "author_hash": p.author_hash, "author_name": p.author_name, "title": p.title,
            "text": p.text, "published_at": p.published_at, "crawled_at": p.crawled_at,
            "likes": p.engagement.likes, "comments": p.engagement.comments,
            "shares": p.engagement.shares, "views": p.engagement.views, "geotag": p.geotag,
            "media": list(p.media), "reposted_id": p.reposted_id, "content_hash": h,
            "stored_at": now}


def _post_from_row(r) -> Post:
    return Post(platform=r.platform, native_id=r.native_id, url=r.url, author_hash=r.author_hash,
                author_name=r.author_name, title=r.title, text=r.text,
                published_at=r.published_at, crawled_at=r.crawled_at,
                engagement=Engagement(r.likes, r.comments, r.shares, r.views),
                geotag=r.geotag, media=tuple(r.media or ()), reposted_id=r.reposted_id)


def _enrichment_row(p: Post, e: Enrichment, now: datetime) -> dict:
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
            "resolution_hours": e.resolution_hours}


def _enrichment_from_row(r) -> Enrichment:
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
                      dispatch_minutes=r.dispatch_minutes, resolution_hours=r.resolution_hours)


def _lead_row(lead: Lead) -> dict:
    return {"id": lead.id, "status": lead.status.value, "title": lead.title,
            "category": lead.category, "district": lead.district, "street": lead.street,
            "unit": lead.unit, "urgent": lead.urgent, "priority": lead.priority,
            "priority_parts": asdict(lead.priority_parts), "post_count": lead.post_count,
            "platform_count": lead.platform_count, "first_seen": lead.first_seen,
            "last_seen": lead.last_seen, "version": lead.version, "merged_into": lead.merged_into, "keywords": list(lead.keywords),
            "updated_at": utcnow()}


def tally_to_json(tally: LeadTally) -> dict:
    return {"posts": tally.posts, "engagement": tally.engagement, "first_seen": tally.first_seen.isoformat(),
            "last_seen": tally.last_seen.isoformat(), "urgent": tally.urgent,
            "recent": [at.isoformat() for at in tally.recent], "platforms": sorted(tally.platforms),
            "categories": tally.categories, "districts": tally.districts,
            "streets": [[d, st, n] for (d, st), n in sorted(tally.streets.items())],
            "places": [[lat, lon, n] for (lat, lon), n in sorted(tally.places.items())]}


def tally_from_json(doc: dict) -> LeadTally:
    try:
        return LeadTally(int(doc["posts"]), int(doc["engagement"]), datetime.fromisoformat(doc["first_seen"]),
                         datetime.fromisoformat(doc["last_seen"]), bool(doc["urgent"]),
                         tuple(datetime.fromisoformat(at) for at in doc["recent"]), frozenset(doc["platforms"]),
                         {k: int(v) for k, v in doc["categories"].items()},
                         {k: int(v) for k, v in doc["districts"].items()},
                         {(d, st): int(n) for d, st, n in doc["streets"]},
                         {(float(lat), float(lon)): int(n) for lat, lon, n in doc["places"]})
    except (KeyError, TypeError, ValueError) as exc:
        raise StoreError(f"lead tally is malformed ({exc!r}): {str(doc)[:200]}") from exc


def _stored_tally(lead_id: str, doc) -> LeadTally | None:
    """The tally kept in a lead's profile; a malformed one is dropped (and logged), not fatal:
    it is derived data, recomputed from the lead's members when missing."""
    if not doc:
        return None
    try:
        return tally_from_json(doc)
    except StoreError as exc:
        log.warning("lead %s: %s; its tally is recomputed from its members", lead_id, exc)
        return None


def _stored_embedding(lead_id: str, blob) -> np.ndarray | None:
    """A lead's embedding centroid; a truncated one is dropped (and logged): the lead is then
    compared by its words until new posts give it a centroid again."""
    if blob is None:
        return None
    raw = bytes(blob)
    if not raw or len(raw) % 4:
        log.warning("lead %s: embedding centroid of %d bytes is not float32 values; dropped", lead_id, len(raw))
        return None
    return np.frombuffer(raw, dtype="<f4").astype(np.float32)


def _lead_from_row(r) -> Lead:
    return Lead(id=r.id, status=LeadStatus(r.status), title=r.title, category=r.category,
                district=r.district, street=r.street, unit=r.unit, urgent=r.urgent,
                priority=r.priority, priority_parts=PriorityParts(**r.priority_parts),
                post_count=r.post_count, platform_count=r.platform_count,
                first_seen=r.first_seen, last_seen=r.last_seen, version=r.version,
                merged_into=r.merged_into, keywords=tuple(r.keywords or ()), updated_at=r.updated_at)


def _event_row(e: LeadEvent) -> dict:
    return {"lead_id": e.lead_id, "kind": e.kind, "actor": e.actor, "at": e.at, "detail": e.detail}
