"""Removing posts from every table that holds them or a copy of their text (core.forget).

`erase` runs in the caller's transaction (a unit of work, with the leads' repair), so a
request is honoured everywhere in the store or nowhere. What is deleted and what is kept:
- deleted: the post, its enrichment (normalized text), its lead membership, and each cached
  embedding whose text hash no remaining post has (the vector is derived from the text);
- redacted, row kept: triage labels (training text) and lead event details of the leads the
  posts were in, and the frozen evidence of those leads' work orders: text, title, url and
  media emptied, each evidence's content hash and so the order's evidence hash unchanged;
- kept: post ids in lead events and work-order evidence (an audit needs to say which posts
  an order was filed on; an id names no person), and the clusterer's document frequencies
  (counts of hashed character n-grams over all posts, from which no text can be read back).
"""
from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import delete, exists, func, select, update

from core.forget import ForgetRequest
from core.redaction import REDACTED, Redactor
from core.store import tables as t
from core.store.db import Repository, chunks


class ForgetRepository(Repository):
    """`store.forget`: find the posts a request names, erase them, keep the audit row."""

    def author_posts(self, platform: str, author_hash: str) -> list[str]:
        q = (select(t.posts.c.id).where(t.posts.c.platform == platform, t.posts.c.author_hash == author_hash)
             .order_by(t.posts.c.id))
        with self.db.connect() as conn:
            return list(conn.execute(q).scalars())

    def existing(self, ids: Sequence[str]) -> set[str]:
        out: set[str] = set()
        with self.db.connect() as conn:
            for chunk in chunks(list(ids)):
                out.update(conn.execute(select(t.posts.c.id).where(t.posts.c.id.in_(chunk))).scalars())
        return out

    def posts_before(self, cutoff: datetime, limit: int) -> list[str]:
        """Up to `limit` ids of posts published before `cutoff`, oldest first."""
        q = (select(t.posts.c.id).where(t.posts.c.published_at < cutoff)
             .order_by(t.posts.c.published_at, t.posts.c.id).limit(limit))
        with self.db.connect() as conn:
            return list(conn.execute(q).scalars())

    def count_before(self, cutoff: datetime) -> int:
        with self.db.connect() as conn:
            return conn.execute(select(func.count()).select_from(t.posts)
                                .where(t.posts.c.published_at < cutoff)).scalar_one()

    def texts(self, ids: Sequence[str]) -> list[str]:
        """Every text of the posts a copy could hold: title, body, both together, normalized text."""
        out: list[str] = []
        with self.db.connect() as conn:
            for chunk in chunks(list(ids)):
                q = (select(t.posts.c.title, t.posts.c.text, t.enrichments.c.normalized_text)
                     .outerjoin(t.enrichments, t.enrichments.c.post_id == t.posts.c.id)
                     .where(t.posts.c.id.in_(chunk)))
                for title, text, normalized in conn.execute(q):
                    out += [title, text, normalized, f"{title}\n{text}" if title else None]
        return [x for x in out if x]

    def erase(self, request: ForgetRequest, ids: Sequence[str], lead_ids: Sequence[str],
              redactor: Redactor) -> dict[str, object]:
        """Delete the posts `ids` and redact copies of their text in the leads `lead_ids`
        (those the posts were in; leads merged into them are searched too). Returns counts."""
        ids = list(dict.fromkeys(ids))
        with self.db.begin() as conn:
            hashes: set[str] = set()
            for chunk in chunks(ids):
                hashes.update(conn.execute(select(t.enrichments.c.text_hash)
                                           .where(t.enrichments.c.post_id.in_(chunk))).scalars())
                conn.execute(delete(t.lead_posts).where(t.lead_posts.c.post_id.in_(chunk)))
                conn.execute(delete(t.enrichments).where(t.enrichments.c.post_id.in_(chunk)))
                conn.execute(delete(t.posts).where(t.posts.c.id.in_(chunk)))
            embeddings = 0
            still_used = exists(select(t.enrichments.c.post_id).where(
                t.enrichments.c.text_hash == t.embeddings.c.text_hash))
            for chunk in chunks(sorted(hashes)):
                # Another post with the same text keeps the vector: it is its vector too.
                embeddings += conn.execute(delete(t.embeddings).where(
                    t.embeddings.c.text_hash.in_(chunk), ~still_used)).rowcount
            leads = self._with_merged(conn, lead_ids)
            merged = self._redact_titles(conn, [lid for lid in leads if lid not in set(lead_ids)], redactor)
            labels = self._redact_labels(conn, leads, redactor)
            events = self._redact_events(conn, leads, redactor)
            orders = self._redact_orders(conn, leads, set(ids), redactor, request.at)
        return {"embeddings": embeddings, "labels": labels, "events": events, "orders": orders,
                "merged_leads_retitled": merged}

    def _with_merged(self, conn, lead_ids: Sequence[str]) -> list[str]:
        """The leads and every lead merged into them: a label or an order may be filed on a
        lead whose posts moved on in a merge."""
        leads, frontier = set(lead_ids), set(lead_ids)
        while frontier:
            found: set[str] = set()
            for chunk in chunks(sorted(frontier)):
                found.update(conn.execute(select(t.leads.c.id).where(t.leads.c.merged_into.in_(chunk))).scalars())
            frontier = found - leads
            leads |= frontier
        return sorted(leads)

    def _redact_titles(self, conn, leads: Sequence[str], redactor: Redactor) -> list[str]:
        """Titles of leads merged away (the posts they were made from live on in another lead,
        which the caller repairs): a title cut from a forgotten post is redacted."""
        changed = []
        for chunk in chunks(list(leads)):
            for lead_id, title in conn.execute(select(t.leads.c.id, t.leads.c.title).where(t.leads.c.id.in_(chunk))).all():
                clean = redactor.text(title)
                if clean != title:
                    conn.execute(update(t.leads).where(t.leads.c.id == lead_id).values(title=clean))
                    changed.append(lead_id)
        return changed

    def _redact_labels(self, conn, leads: Sequence[str], redactor: Redactor) -> int:
        return _redact_rows(conn, t.triage_labels, t.triage_labels.c.text, leads, redactor.text)

    def _redact_events(self, conn, leads: Sequence[str], redactor: Redactor) -> int:
        return _redact_rows(conn, t.lead_events, t.lead_events.c.detail, leads, redactor.json)

    def _redact_orders(self, conn, leads: Sequence[str], ids: set[str], redactor: Redactor,
                       now: datetime) -> list[str]:
        W = t.work_orders
        order_ids: set[str] = set()
        for chunk in chunks(list(leads)):
            order_ids.update(conn.execute(select(W.c.id).where(W.c.lead_id.in_(chunk))).scalars())
            order_ids.update(conn.execute(select(t.order_leads.c.order_id)
                                          .where(t.order_leads.c.lead_id.in_(chunk))).scalars())
        changed = []
        for chunk in chunks(sorted(order_ids)):
            for r in conn.execute(select(W.c.id, W.c.title, W.c.description, W.c.evidence)
                                  .where(W.c.id.in_(chunk))).all():
                evidence = [self._redact_evidence(e) if e.get("post_id") in ids else e for e in r.evidence or ()]
                title, description = redactor.text(r.title), redactor.text(r.description)
                if evidence == (r.evidence or []) and title == r.title and description == r.description:
                    continue
                # evidence_hash is left as written: it is over the content hashes, kept above.
                conn.execute(update(W).where(W.c.id == r.id).values(
                    evidence=evidence, title=title, description=description, updated_at=now))
                changed.append(r.id)
        return changed

    @staticmethod
    def _redact_evidence(e: dict) -> dict:
        return {**e, "text": REDACTED, "title": None, "url": "", "media": [], "redacted": True}

    def record(self, request: ForgetRequest, post_ids: Sequence[str] | None, posts: int,
               leads: Sequence[str], counts: dict) -> None:
        """Write the request's audit row, or add to it (a retention purge runs in batches, one
        transaction each, all under one request)."""
        R = t.deletion_requests
        with self.db.begin() as conn:
            row = conn.execute(select(R).where(R.c.id == request.id)).first()
            if row is None:
                conn.execute(R.insert().values(
                    id=request.id, kind=request.kind.value, subject=request.subject, actor=request.actor,
                    reason=request.reason, at=request.at, posts=posts,
                    post_ids=list(post_ids) if post_ids is not None else None, leads=list(leads), counts=counts))
                return
            summed = {k: row.counts.get(k, 0) + v for k, v in counts.items()}
            conn.execute(update(R).where(R.c.id == request.id).values(
                posts=row.posts + posts, leads=list(dict.fromkeys([*row.leads, *leads])), counts=summed,
                post_ids=None if row.post_ids is None or post_ids is None else [*row.post_ids, *post_ids]))

    def set_index_status(self, request_id: str, status: str) -> None:
        with self.db.begin() as conn:
            conn.execute(update(t.deletion_requests).where(t.deletion_requests.c.id == request_id)
                         .values(index_status=status[:200]))

    def requests(self, limit: int = 100) -> list[dict]:
        """The latest requests, newest first, as stored."""
        q = select(t.deletion_requests).order_by(t.deletion_requests.c.at.desc()).limit(limit)
        with self.db.connect() as conn:
            return [dict(r._mapping) for r in conn.execute(q)]


def _redact_rows(conn, table, column, leads: Sequence[str], clean) -> int:
    """Rewrite `column` of the rows of `table` belonging to `leads` through `clean`; returns how
    many rows changed."""
    n = 0
    for chunk in chunks(list(leads)):
        rows = conn.execute(select(table.c.id, column).where(table.c.lead_id.in_(chunk))).all()
        for row_id, value in rows:
            cleaned = clean(value)
            if cleaned != value:
                conn.execute(update(table).where(table.c.id == row_id).values({column.name: cleaned}))
                n += 1
    return n
