"""Posts, their enrichments, and the embedding cache keyed by normalized-text hash.

Every write is an upsert keyed by a stable id, so any stage can be re-run or resumed."""
from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from datetime import datetime

import numpy as np
from sqlalchemy import select

from core.models import EnrichedPost, Enrichment, Post, UpsertResult, Window, utcnow
from core.store import tables as t
from core.store.db import Repository, chunks
from core.store.errors import StoreError
from core.store.rows import content_hash, enrichment_from_row, enrichment_row, post_from_row, post_row


class PostRepository(Repository):
    """`store.posts`: crawled posts, what enrichment made of them, and cached embeddings."""

    def upsert(self, posts: Iterable[Post]) -> UpsertResult:
        by_id: dict[str, Post] = {}
        for p in posts:
            by_id[p.id] = p  # the last copy of a post within one batch wins
        new = updated = unchanged = 0
        now = utcnow()
        items = list(by_id.values())
        with self.db.begin() as conn:
            for chunk in chunks(items):
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
                    rows.append(post_row(p, h, now))
                if rows:
                    conn.execute(*self.db.upsert(t.posts, rows, ["id"]))
        return UpsertResult(new=new, updated=updated, unchanged=unchanged)

    def get(self, ids: Sequence[str]) -> list[Post]:
        """The stored posts of `ids`, in that order; unknown ids are left out."""
        out: dict[str, Post] = {}
        with self.db.connect() as conn:
            for chunk in chunks(list(ids)):
                for row in conn.execute(select(t.posts).where(t.posts.c.id.in_(chunk))):
                    out[row.id] = post_from_row(row)
        return [out[i] for i in ids if i in out]

    def to_enrich(self, window: Window, batch: int = 2000) -> Iterator[list[Post]]:
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
            with self.db.connect() as conn:
                rows = conn.execute(q).all()
            if not rows:
                return
            last_id = rows[-1].id
            yield [post_from_row(r) for r in rows]

    def save_enrichments(self, items: Sequence[tuple[Post, Enrichment]]) -> int:
        now = utcnow()
        with self.db.begin() as conn:
            for chunk in chunks(list(items)):
                rows = [enrichment_row(p, e, now) for p, e in chunk]
                conn.execute(*self.db.upsert(t.enrichments, rows, ["post_id"]))
        return len(items)

    def enriched(self, ids: Sequence[str]) -> list[EnrichedPost]:
        """The enriched posts of `ids`, in that order; ids not (yet) enriched are left out."""
        out: dict[str, EnrichedPost] = {}
        with self.db.connect() as conn:
            for chunk in chunks(list(ids)):
                q = select(t.posts, t.enrichments).join(
                    t.enrichments, t.enrichments.c.post_id == t.posts.c.id).where(t.posts.c.id.in_(chunk))
                for row in conn.execute(q):
                    out[row.id] = EnrichedPost(post_from_row(row), enrichment_from_row(row))
        return [out[i] for i in ids if i in out]

    def iter_enriched(self, batch: int = 1000, window: Window | None = None,
                      enriched_since: datetime | None = None) -> Iterator[list[EnrichedPost]]:
        """Every enriched post (published in `window`, enriched at or after `enriched_since`,
        when given), `batch` at a time in id order (keyset paging: a rebuild of the search index
        reads millions without holding them)."""
        last_id = ""
        while True:
            q = (select(t.posts, t.enrichments).join(t.enrichments, t.enrichments.c.post_id == t.posts.c.id)
                 .where(t.posts.c.id > last_id).order_by(t.posts.c.id).limit(batch))
            if window is not None:
                q = q.where(t.posts.c.published_at >= window.start, t.posts.c.published_at < window.end)
            if enriched_since is not None:
                q = q.where(t.enrichments.c.enriched_at >= enriched_since)
            with self.db.connect() as conn:
                rows = conn.execute(q).all()
            if not rows:
                return
            last_id = rows[-1].id
            yield [EnrichedPost(post_from_row(r), enrichment_from_row(r)) for r in rows]

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
        with self.db.connect() as conn:
            return [EnrichedPost(post_from_row(r), enrichment_from_row(r)) for r in conn.execute(q)]

    def unassigned_at_places(self, place_keys: Sequence[str], window: Window, relevant_only: bool = True
                             ) -> list[EnrichedPost]:
        """Posts in no lead yet, published in `window`, naming one of `place_keys`, oldest first:
        the earlier reports of a problem that had no lead when they came in."""
        keys = sorted({k for k in place_keys if k})
        out: list[EnrichedPost] = []
        with self.db.connect() as conn:
            for chunk in chunks(keys):
                q = (select(t.posts, t.enrichments)
                     .join(t.enrichments, t.enrichments.c.post_id == t.posts.c.id)
                     .outerjoin(t.lead_posts, t.lead_posts.c.post_id == t.posts.c.id)
                     .where(t.enrichments.c.place_key.in_(chunk),
                            t.enrichments.c.relevant.is_(True) if relevant_only else True,
                            t.lead_posts.c.post_id.is_(None),
                            t.posts.c.published_at >= window.start, t.posts.c.published_at < window.end))
                out += [EnrichedPost(post_from_row(r), enrichment_from_row(r)) for r in conn.execute(q)]
        return sorted(out, key=lambda ep: (ep.post.published_at, ep.id))

    def get_embeddings(self, model: str, text_hashes: Sequence[str]) -> dict[str, np.ndarray]:
        """Cached float32 vectors of `model` for those text hashes; hashes not cached are absent."""
        out: dict[str, np.ndarray] = {}
        with self.db.connect() as conn:
            for chunk in chunks(list(dict.fromkeys(text_hashes))):
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
        with self.db.begin() as conn:
            for chunk in chunks(list(rows.values())):
                conn.execute(*self.db.upsert(t.embeddings, list(chunk), ["model", "text_hash"]))
        return len(rows)
