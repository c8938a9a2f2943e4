"""Aggregates over posts and leads for trends and status, and the warnings trends raise."""
from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import and_, case, func, select

from core.models import LeadStatus, utcnow
from core.store import tables as t
from core.store.db import Repository, chunks


class ReportRepository(Repository):
    """`store.reports`: counts grouped in SQL, and spike and trend warnings."""

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
        with self.db.connect() as conn:
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
        with self.db.connect() as conn:
            return {(r[0], r[1]): [int(v or 0) for v in r[2:]] for r in conn.execute(q)}

    def save_warnings(self, items: Sequence[dict]) -> int:
        """Upsert warnings (dicts of kind, category, district, window_end, count, baseline, ratio)
        keyed by (kind, category, district, window_end): a re-run updates, never duplicates."""
        now = utcnow()
        rows = [{"kind": w["kind"], "category": w["category"], "district": w["district"],
                 "window_end": w["window_end"], "count": int(w["count"]), "baseline": float(w["baseline"]),
                 "ratio": float(w["ratio"]), "created_at": now} for w in items]
        with self.db.begin() as conn:
            for chunk in chunks(rows):
                stmt = self.db.insert(t.warnings)
                stmt = stmt.on_conflict_do_update(
                    index_elements=["kind", "category", "district", "window_end"],
                    set_={c: stmt.excluded[c] for c in ("count", "baseline", "ratio")})
                conn.execute(stmt, list(chunk))
        return len(rows)

    def warnings(self, since: datetime) -> list[dict]:
        """Warnings with a window end at or after `since`, newest first, then strongest."""
        q = (select(t.warnings).where(t.warnings.c.window_end >= since)
             .order_by(t.warnings.c.window_end.desc(), t.warnings.c.ratio.desc(), t.warnings.c.id))
        with self.db.connect() as conn:
            return [{"id": r.id, "kind": r.kind, "category": r.category, "district": r.district,
                     "window_end": r.window_end, "count": r.count, "baseline": r.baseline,
                     "ratio": r.ratio, "created_at": r.created_at} for r in conn.execute(q)]

    def lead_count(self) -> int:
        """Leads stored: the health check's one figure (counts() reads every post too)."""
        with self.db.connect() as conn:
            return conn.execute(select(func.count()).select_from(t.leads)).scalar_one()

    def counts(self) -> dict[str, int]:
        """How many rows of each kind, for `radar status`, health and benchmarks."""
        with self.db.connect() as conn:
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
