"""The embedded search backend: FTS5 tables in the store's own SQLite file.

Tables (created idempotently here rather than by an Alembic migration: FTS5 virtual tables
are SQLite-only and the PostgreSQL store gets its search from Elasticsearch instead):
- `search_posts`: one row per post with the filter and sort columns; `rid` links it to
- `search_posts_fts`: FTS5 over (title, body) with the trigram tokenizer, because Chinese
  has no spaces to split words on and trigrams find any substring of three or more characters.
- `search_leads` / `search_leads_fts`: the same for leads (title, keywords).

Trigram MATCH needs at least three characters, and most Chinese words are two (噪音, 停车):
`search_posts_bi` holds each post's overlapping character pairs as tokens (路灯坏了 -> 路灯 灯坏
坏了, as the Elasticsearch backend's `.exact` subfields hold them), so a two-character word is an index
lookup too, not a LIKE scan of every post (measured: benchmarks.search_scale). A single
character is matched with LIKE. Text and queries are width-folded (query.fold). Times are integer microseconds UTC so
they sort and compare exactly.
"""
from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from datetime import date, datetime, timezone

import numpy as np
from sqlalchemy import text as sql

from core.models import EnrichedPost, Lead, LeadStatus
from core.search.errors import SearchError, SearchUnavailable
from core.search.models import (LeadHit, PostHit, PostQuery, SearchPage, TrendBucket,
                                check_point, check_text, encode_cursor, snippet)
from core.search.points import distance_m, lead_points
from core.search.query import Terms, fold, highlight
from core.store import Store

KNN_CHUNK = 512  # posts scored at once by candidate_leads_many


def top_k(scores: np.ndarray, k: int) -> np.ndarray:
    """Positions of the `k` highest finite scores, highest first, ties in position order: what a
    stable sort of the whole row gives, without sorting it."""
    if k <= 0:
        return np.empty(0, dtype=np.intp)
    finite = np.flatnonzero(np.isfinite(scores))
    if len(finite) > k:
        kth = np.partition(scores[finite], len(finite) - k)[len(finite) - k]
        finite = finite[scores[finite] >= kth]
    return finite[np.argsort(-scores[finite], kind="stable")][:k]


TABLE_SCHEMA = [
    """CREATE TABLE IF NOT EXISTS search_posts (
        rid INTEGER PRIMARY KEY, post_id TEXT NOT NULL UNIQUE, published_us INTEGER NOT NULL,
        day TEXT NOT NULL, platform TEXT NOT NULL, district TEXT, category TEXT, author_hash TEXT,
        relevant INTEGER NOT NULL, lat REAL, lon REAL, embedding BLOB)""",
    "CREATE VIRTUAL TABLE IF NOT EXISTS search_posts_fts USING fts5(title, body, tokenize='trigram')",
    "CREATE VIRTUAL TABLE IF NOT EXISTS search_posts_bi USING fts5(grams, tokenize='unicode61')",
    """CREATE TABLE IF NOT EXISTS search_leads (
        rid INTEGER PRIMARY KEY, lead_id TEXT NOT NULL UNIQUE, title TEXT NOT NULL, status TEXT NOT NULL,
        district TEXT, category TEXT, priority REAL NOT NULL, last_seen_us INTEGER NOT NULL,
        lat REAL, lon REAL, centroid BLOB)""",
    "CREATE VIRTUAL TABLE IF NOT EXISTS search_leads_fts USING fts5(title, keywords, tokenize='trigram')",
]
# The readers' indexes: a rebuild's staging tables go without them (the fill needs only the
# unique keys) and get them at the swap, as SQLite cannot rename an index.
INDEX_SCHEMA = [
    "CREATE INDEX IF NOT EXISTS search_posts_order ON search_posts (published_us DESC, post_id)",
    "CREATE INDEX IF NOT EXISTS search_posts_trend ON search_posts (relevant, published_us)",
    "CREATE INDEX IF NOT EXISTS search_leads_point ON search_leads (lat, lon)",
]
SCHEMA = TABLE_SCHEMA + INDEX_SCHEMA
TABLES = ["search_posts_fts", "search_posts_bi", "search_posts", "search_leads_fts", "search_leads"]
LIVE, STAGING = "search_", "search_next_"  # table name prefixes: what the desk reads, what a rebuild fills


def micros(at: datetime) -> int:
    at = at.astimezone(timezone.utc)
    return (at - datetime(1970, 1, 1, tzinfo=timezone.utc)) // datetime.resolution


def from_micros(us: int) -> datetime:
    return datetime.fromtimestamp(us / 1_000_000, tz=timezone.utc)


def _like(term: str) -> str:
    return "%" + term.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"


_WORD = re.compile(r"\w+")


def bigrams(text: str) -> str:
    """The overlapping character pairs of each run of letters and digits, lowercased, as
    space-separated tokens (a lone character is its own token)."""
    out = []
    for run in _WORD.findall((text or "").lower()):
        out += [run] if len(run) < 2 else [run[i:i + 2] for i in range(len(run) - 1)]
    return " ".join(out)


def _quoted(term: str) -> str:
    return '"' + term.replace('"', '""') + '"'


def text_conditions(terms: Terms, fts: str, columns: Sequence[str], params: dict,
                    bigram_table: str | None = None, rowid: str = "") -> list[str]:
    """SQL conditions on the FTS table `fts` for every term: one MATCH for the terms of three or
    more characters (each quoted: a term is letters and digits only, so never FTS5 syntax);
    two-character ones by one MATCH on `bigram_table` (its rowid equal to `rowid`) when given;
    a LIKE over `columns` for each shorter one."""
    conds, long_terms, pairs = [], [], []
    for i, term in enumerate(terms.all):
        if len(term) >= 3:
            long_terms.append(_quoted(term))
        elif len(term) == 2 and bigram_table:
            pairs.append(_quoted(term.lower()))
        else:
            params[f"like{i}"] = _like(term)
            conds.append("(" + " OR ".join(f"{fts}.{c} LIKE :like{i} ESCAPE '\\'" for c in columns) + ")")
    if pairs:
        params["pairs"] = " AND ".join(pairs)
        conds.insert(0, f"{rowid} IN (SELECT rowid FROM {bigram_table} WHERE {bigram_table} MATCH :pairs)")
    if long_terms:
        params["match"] = " AND ".join(long_terms)
        conds.insert(0, f"{fts} MATCH :match")
    return conds


def _vector(value: np.ndarray | None, dims: int, what: str) -> bytes | None:
    if value is None:
        return None
    vec = np.asarray(value, dtype="<f4").ravel()
    if vec.size != dims:
        raise SearchError(f"{what}: embedding has {vec.size} dimensions, the index holds {dims}")
    return vec.tobytes()


class EmbeddedSearch:
    """`SearchIndex` over the store's SQLite database (see the module docstring)."""

    name = "embedded"

    def __init__(self, store: Store, dims: int = 384, *, staging: bool = False):
        if store.backend != "sqlite":
            raise SearchUnavailable(f"the embedded search index needs a SQLite store, this one is "
                                    f"{store.backend}: search at scale needs ELASTICSEARCH_URL")
        self.store = store
        self.dims = dims
        self.staging = staging
        self.prefix = STAGING if staging else LIVE
        self._create()

    def _named(self, statement: str) -> str:
        """The statement on this index's tables (a staging index's are search_next_*)."""
        return statement if self.prefix == LIVE else statement.replace(LIVE, self.prefix)

    def _sql(self, statement: str):
        return sql(self._named(statement))

    def _create(self) -> None:
        with self.store.engine.begin() as conn:
            for stmt in (TABLE_SCHEMA if self.staging else SCHEMA):
                conn.exec_driver_sql(self._named(stmt))
            # An index written before the pair tokens existed gets them from its own text.
            if conn.exec_driver_sql(self._named("SELECT count(*) FROM search_posts_bi")).scalar_one() == 0:
                for rid, title, body in conn.exec_driver_sql(self._named("SELECT rowid, title, body FROM search_posts_fts")).all():
                    conn.execute(self._sql("INSERT INTO search_posts_bi (rowid, grams) VALUES (:rid, :g)"),
                                 {"rid": rid, "g": bigrams(f"{title} {body}")})

    def reset(self) -> None:
        with self.store.engine.begin() as conn:
            for name in TABLES:
                conn.exec_driver_sql(self._named(f"DROP TABLE IF EXISTS {name}"))
        self._create()

    def refresh(self) -> None:
        """Writes commit as they happen: nothing to do."""

    def begin_rebuild(self) -> "EmbeddedSearch":
        """A writer into empty staging tables beside the live ones (what an interrupted rebuild
        left is dropped first); fill it, then `finish_rebuild` it. Meanwhile the desk keeps
        reading the live tables."""
        if self.staging:
            raise SearchError("a staging index cannot begin a rebuild of its own")
        staged = EmbeddedSearch(self.store, self.dims, staging=True)
        staged.reset()
        return staged

    def finish_rebuild(self, staged: "EmbeddedSearch") -> list[str]:
        """Swap `staged` in, in one transaction: the live tables are dropped, the staging ones
        renamed to their names and given the readers' indexes. A reader sees the old index or
        the new one, never an empty one (SQLite's WAL keeps an open read on its snapshot), and
        a writer waits for the swap, then writes into the new tables: SQLite has one writer at a
        time, so no write lands in the old tables after it. Returns what is left to drop: nothing."""
        if not staged.staging or staged.store is not self.store or self.staging:
            raise SearchError("finish_rebuild takes the staging index this one's begin_rebuild returned")
        with self.store.engine.begin() as conn:
            for name in TABLES:
                conn.exec_driver_sql(f"DROP TABLE IF EXISTS {name}")
            for name in TABLES:
                conn.exec_driver_sql(f"ALTER TABLE {name.replace(LIVE, STAGING)} RENAME TO {name}")
            for stmt in INDEX_SCHEMA:
                conn.exec_driver_sql(stmt)
        return []

    def drop_indices(self, names: Sequence[str]) -> None:
        """Nothing outlives finish_rebuild here; present for the SearchIndex rebuild protocol."""
        if names:
            raise SearchError(f"the embedded index has no separate indices to drop: {list(names)}")

    def close(self) -> None:
        """The store is the caller's to close."""

    # -- writing ---------------------------------------------------------------------------
    def index_posts(self, items: Sequence[EnrichedPost],
                    embeddings: Mapping[str, np.ndarray] | None = None) -> int:
        embeddings = embeddings or {}
        latest = {ep.id: ep for ep in items}  # the last copy of a post in one batch wins
        rows = []
        for ep in latest.values():
            p, e = ep.post, ep.enrichment
            rows.append({"post_id": p.id, "published_us": micros(p.published_at),
                         "day": p.published_at.astimezone(timezone.utc).date().isoformat(),
                         "platform": p.platform, "district": e.district, "category": e.category,
                         "author_hash": p.author_hash, "relevant": int(e.relevant), "lat": e.lat, "lon": e.lon,
                         "embedding": _vector(embeddings.get(p.id), self.dims, p.id),
                         "title": fold(p.title or ""), "body": fold(p.text)})
        if not rows:
            return 0
        # Whole-batch statements (executemany): a row at a time ran a few hundred posts a second.
        with self.store.engine.begin() as conn:
            conn.execute(self._sql(
                """INSERT INTO search_posts (post_id, published_us, day, platform, district, category,
                       author_hash, relevant, lat, lon, embedding)
                   VALUES (:post_id, :published_us, :day, :platform, :district, :category,
                       :author_hash, :relevant, :lat, :lon, :embedding)
                   ON CONFLICT (post_id) DO UPDATE SET published_us=excluded.published_us,
                       day=excluded.day, platform=excluded.platform, district=excluded.district,
                       category=excluded.category, author_hash=excluded.author_hash,
                       relevant=excluded.relevant, lat=excluded.lat, lon=excluded.lon,
                       embedding=excluded.embedding"""), rows)
            rid_of: dict[str, int] = {}
            ids = [r["post_id"] for r in rows]
            for i in range(0, len(ids), 500):
                chunk = {f"i{n}": v for n, v in enumerate(ids[i:i + 500])}
                rid_of.update(conn.execute(self._sql(f"SELECT post_id, rid FROM search_posts WHERE post_id IN "
                                               f"({', '.join(':' + k for k in chunk)})"), chunk).tuples().all())
            text_rows = [{"rid": rid_of[r["post_id"]], "title": r["title"], "body": r["body"],
                          "grams": bigrams(f"{r['title']} {r['body']}")} for r in rows]
            # An upsert replaces the FTS rows: FTS5 has no ON CONFLICT of its own.
            for table in ("search_posts_fts", "search_posts_bi"):
                conn.execute(self._sql(f"DELETE FROM {table} WHERE rowid = :rid"), [{"rid": r["rid"]} for r in text_rows])
            conn.execute(self._sql("INSERT INTO search_posts_fts (rowid, title, body) VALUES (:rid, :title, :body)"),
                         [{k: r[k] for k in ("rid", "title", "body")} for r in text_rows])
            conn.execute(self._sql("INSERT INTO search_posts_bi (rowid, grams) VALUES (:rid, :grams)"),
                         [{k: r[k] for k in ("rid", "grams")} for r in text_rows])
        return len(rows)

    def index_leads(self, leads: Sequence[Lead], centroids: Mapping[str, np.ndarray] | None = None,
                    points: Mapping[str, tuple[float, float]] | None = None) -> int:
        centroids = centroids or {}
        latest = {lead.id: lead for lead in leads}
        gone = [lead_id for lead_id, lead in latest.items() if lead.status == LeadStatus.MERGED]
        latest = {lead_id: lead for lead_id, lead in latest.items() if lead_id not in gone}
        if points is None:
            points = lead_points(self.store, list(latest))
        with self.store.engine.begin() as conn:
            for lead_id in gone:  # see SearchIndex.index_leads
                conn.execute(self._sql("DELETE FROM search_leads_fts WHERE rowid IN "
                                 "(SELECT rid FROM search_leads WHERE lead_id = :id)"), {"id": lead_id})
                conn.execute(self._sql("DELETE FROM search_leads WHERE lead_id = :id"), {"id": lead_id})
            for lead in latest.values():
                lat, lon = points.get(lead.id, (None, None))
                row = {"lead_id": lead.id, "title": lead.title, "status": str(lead.status),
                       "district": lead.district, "category": lead.category, "priority": lead.priority,
                       "last_seen_us": micros(lead.last_seen), "lat": lat, "lon": lon,
                       "centroid": _vector(centroids.get(lead.id), self.dims, lead.id)}
                rid = conn.execute(self._sql(
                    """INSERT INTO search_leads (lead_id, title, status, district, category, priority,
                           last_seen_us, lat, lon, centroid)
                       VALUES (:lead_id, :title, :status, :district, :category, :priority, :last_seen_us,
                           :lat, :lon, :centroid)
                       ON CONFLICT (lead_id) DO UPDATE SET title=excluded.title, status=excluded.status,
                           district=excluded.district, category=excluded.category, priority=excluded.priority,
                           last_seen_us=excluded.last_seen_us, lat=excluded.lat, lon=excluded.lon,
                           centroid=excluded.centroid
                       RETURNING rid"""), row).scalar_one()
                conn.execute(self._sql("DELETE FROM search_leads_fts WHERE rowid = :rid"), {"rid": rid})
                conn.execute(self._sql("INSERT INTO search_leads_fts (rowid, title, keywords) VALUES (:rid, :t, :k)"),
                             {"rid": rid, "t": fold(lead.title), "k": fold(" ".join(lead.keywords))})
        return len(latest) + len(gone)

    def _delete_where(self, where: str, params: dict) -> int:
        with self.store.engine.begin() as conn:
            for table in ("search_posts_fts", "search_posts_bi"):
                conn.execute(self._sql(f"DELETE FROM {table} WHERE rowid IN "
                                  f"(SELECT rid FROM search_posts WHERE {where})"), params)
            return conn.execute(self._sql(f"DELETE FROM search_posts WHERE {where}"), params).rowcount

    def delete_posts(self, ids: Sequence[str]) -> int:
        deleted = 0
        ids = list(dict.fromkeys(ids))
        for i in range(0, len(ids), 500):
            chunk = ids[i:i + 500]
            params = {f"i{n}": v for n, v in enumerate(chunk)}
            deleted += self._delete_where(f"post_id IN ({', '.join(':' + k for k in params)})", params)
        return deleted

    def purge_before(self, cutoff: datetime) -> int:
        return self._delete_where("published_us < :cutoff", {"cutoff": micros(cutoff)})

    # -- reading ---------------------------------------------------------------------------
    def count_posts(self) -> int:
        with self.store.engine.connect() as conn:
            return conn.execute(self._sql("SELECT count(*) FROM search_posts")).scalar_one()

    def search_posts(self, q: PostQuery) -> SearchPage:
        if q.matches_nothing:
            return SearchPage((), 0, None)
        params: dict = {}
        conds = text_conditions(q.terms, "search_posts_fts", ("title", "body"), params, "search_posts_bi", "s.rid")
        for name in ("district", "category", "platform"):
            if getattr(q, name) is not None:
                conds.append(f"s.{name} = :{name}")
                params[name] = getattr(q, name)
        if q.districts:
            names = [f"d{i}" for i in range(len(q.districts))]
            conds.append(f"s.district IN ({', '.join(':' + n for n in names)})")
            params.update(zip(names, q.districts))
        if q.since is not None:
            conds.append("s.published_us >= :since")
            params["since"] = micros(q.since)
        if q.until is not None:
            conds.append("s.published_us < :until")
            params["until"] = micros(q.until)
        if q.relevant_only:
            conds.append("s.relevant = 1")
        base = "FROM search_posts s JOIN search_posts_fts ON search_posts_fts.rowid = s.rid"
        where = " WHERE " + " AND ".join(conds) if conds else ""
        page_conds = list(conds)
        if q.cursor is not None:
            page_conds.append("(s.published_us < :c_at OR (s.published_us = :c_at AND s.post_id > :c_id))")
            params["c_at"], params["c_id"] = micros(q.cursor[0]), q.cursor[1]
        page_where = " WHERE " + " AND ".join(page_conds) if page_conds else ""
        params["limit"] = q.size + 1  # one more than asked tells whether a next page exists
        with self.store.engine.connect() as conn:
            total = conn.execute(self._sql(f"SELECT count(*) {base}{where}"), params).scalar_one()
            rows = conn.execute(self._sql(
                f"""SELECT s.post_id, s.published_us, s.platform, s.district, s.category,
                           search_posts_fts.title, search_posts_fts.body
                    {base}{page_where} ORDER BY s.published_us DESC, s.post_id ASC LIMIT :limit"""),
                params).all()
        more = len(rows) > q.size
        hits = tuple(PostHit(post_id=r.post_id, title=r.title or None, snippet=snippet(r.body),
                             highlights=highlight(r.title, q.terms) + highlight(r.body, q.terms),
                             published_at=from_micros(r.published_us), platform=r.platform,
                             district=r.district, category=r.category) for r in rows[:q.size])
        next_after = encode_cursor(hits[-1].published_at, hits[-1].post_id) if more else None
        return SearchPage(hits, total, next_after)

    def trends(self, since: datetime, until: datetime) -> list[TrendBucket]:
        with self.store.engine.connect() as conn:
            rows = conn.execute(self._sql(
                """SELECT day, district, category, count(*) AS n FROM search_posts
                   WHERE relevant = 1 AND published_us >= :since AND published_us < :until
                   GROUP BY day, district, category ORDER BY day, district, category"""),
                {"since": micros(since), "until": micros(until)}).all()
        return [TrendBucket(date.fromisoformat(r.day), r.district, r.category, r.n) for r in rows]

    def count_relevant_posts(self, periods: Sequence[tuple[datetime, datetime]]) -> dict[tuple[str, str], list[int]]:
        if not periods:
            return {}
        params: dict = {"lo": micros(min(a for a, _ in periods)), "hi": micros(max(b for _, b in periods))}
        sums = []
        for k, (a, b) in enumerate(periods):
            params[f"a{k}"], params[f"b{k}"] = micros(a), micros(b)
            sums.append(f"sum(published_us >= :a{k} AND published_us < :b{k})")
        with self.store.engine.connect() as conn:
            rows = conn.execute(self._sql(
                f"""SELECT category, district, {', '.join(sums)} FROM search_posts
                    WHERE relevant = 1 AND category IS NOT NULL AND district IS NOT NULL
                      AND published_us >= :lo AND published_us < :hi
                    GROUP BY category, district"""), params).all()
        return {(r[0], r[1]): [int(v or 0) for v in r[2:]] for r in rows}

    def _lead_hit(self, r, **extra) -> LeadHit:
        return LeadHit(lead_id=r.lead_id, title=r.title, status=r.status, district=r.district,
                       category=r.category, priority=r.priority, lat=r.lat, lon=r.lon, **extra)

    def search_leads(self, text: str, size: int = 20) -> list[LeadHit]:
        terms = check_text(text, size)
        if not terms:
            return []
        params: dict = {"limit": size}
        conds = text_conditions(terms, "search_leads_fts", ("title", "keywords"), params)
        with self.store.engine.connect() as conn:
            rows = conn.execute(self._sql(
                f"""SELECT l.* FROM search_leads l JOIN search_leads_fts ON search_leads_fts.rowid = l.rid
                    WHERE {' AND '.join(conds)} ORDER BY l.priority DESC, l.lead_id LIMIT :limit"""),
                params).all()
        return [self._lead_hit(r) for r in rows]

    def leads_near(self, lat: float, lon: float, meters: float, size: int = 20) -> list[LeadHit]:
        check_point(lat, lon, meters, size)
        # A bounding box narrows the rows in SQL; the exact great-circle test is done here.
        dlat = math.degrees(meters / 6_371_008.8)
        dlon = dlat / max(math.cos(math.radians(lat)), 1e-6)
        with self.store.engine.connect() as conn:
            rows = conn.execute(self._sql(
                """SELECT * FROM search_leads WHERE lat BETWEEN :lat0 AND :lat1
                   AND lon BETWEEN :lon0 AND :lon1"""),
                {"lat0": lat - dlat, "lat1": lat + dlat, "lon0": lon - dlon, "lon1": lon + dlon}).all()
        near = sorted(((distance_m(lat, lon, r.lat, r.lon), r) for r in rows), key=lambda x: (x[0], x[1].lead_id))
        return [self._lead_hit(r, distance_m=d) for d, r in near if d <= meters][:size]

    def candidate_leads_many(self, vectors: np.ndarray, districts: Sequence[str | None], *,
                             since: datetime | None = None, k: int = 10) -> list[list[LeadHit]]:
        vectors = np.asarray(vectors, dtype=np.float32).reshape(len(districts), -1)
        if vectors.shape[1] != self.dims:
            raise SearchError(f"query: embedding has {vectors.shape[1]} dimensions, the index holds {self.dims}")
        conds, params = ["centroid IS NOT NULL"], {}
        if since is not None:
            conds.append("last_seen_us >= :since")
            params["since"] = micros(since)
        with self.store.engine.connect() as conn:
            rows = conn.execute(self._sql(f"SELECT * FROM search_leads WHERE {' AND '.join(conds)}"), params).all()
        out: list[list[LeadHit]] = [[] for _ in districts]
        if not rows:
            return out
        matrix = np.stack([np.frombuffer(r.centroid, dtype="<f4") for r in rows])
        matrix = matrix / np.where((n := np.linalg.norm(matrix, axis=1, keepdims=True)) == 0, 1.0, n)
        queries = vectors / np.where((n := np.linalg.norm(vectors, axis=1, keepdims=True)) == 0, 1.0, n)
        lead_district = np.array([r.district or "" for r in rows], dtype=object)
        asking: dict[str | None, list[int]] = {}
        for i, district in enumerate(districts):
            asking.setdefault(district, []).append(i)
        # The posts of one district are scored against that district's leads only, a chunk at a
        # time: a batch of 10k posts against 40k leads was a 1.6 GB score matrix, masked per post.
        for district, posts in asking.items():
            cols = np.arange(len(rows)) if district is None else np.flatnonzero(lead_district == district)
            if not len(cols):
                continue
            leads = matrix[cols]
            for start in range(0, len(posts), KNN_CHUNK):
                chunk = posts[start:start + KNN_CHUNK]
                scores = queries[chunk] @ leads.T
                for row, i in zip(scores, chunk):
                    out[i] = [self._lead_hit(rows[cols[j]], score=float(row[j])) for j in top_k(row, k)]
        return out

    def candidate_leads(self, vector: np.ndarray, *, district: str | None = None,
                        category: str | None = None, since: datetime | None = None,
                        k: int = 10) -> list[LeadHit]:
        query = np.frombuffer(_vector(vector, self.dims, "query"), dtype="<f4")
        conds, params = ["centroid IS NOT NULL"], {}
        if district is not None:
            conds.append("district = :district")
            params["district"] = district
        if category is not None:
            conds.append("category = :category")
            params["category"] = category
        if since is not None:
            conds.append("last_seen_us >= :since")
            params["since"] = micros(since)
        with self.store.engine.connect() as conn:
            rows = conn.execute(self._sql(f"SELECT * FROM search_leads WHERE {' AND '.join(conds)}"), params).all()
        if not rows:
            return []
        # Exact cosine over the filtered leads: the embedded scale is small enough for brute force.
        matrix = np.stack([np.frombuffer(r.centroid, dtype="<f4") for r in rows])
        norms = np.linalg.norm(matrix, axis=1) * (np.linalg.norm(query) or 1.0)
        scores = matrix @ query / np.where(norms == 0, 1.0, norms)
        order = sorted(range(len(rows)), key=lambda i: (-scores[i], rows[i].lead_id))[:k]
        return [self._lead_hit(rows[i], score=float(scores[i])) for i in order]
