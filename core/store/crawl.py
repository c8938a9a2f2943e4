"""Crawl records: checkpoints per (platform, query), crawl runs, and stage runs."""
from __future__ import annotations

from dataclasses import asdict

from sqlalchemy import select

from core.models import Checkpoint, CrawlRun, StageRun, Window, utcnow
from core.store import tables as t
from core.store.db import Repository


class CrawlRepository(Repository):
    """`store.crawl`: where each crawl stopped, and what every crawl and stage run did."""

    def checkpoint(self, platform: str, query: str) -> Checkpoint:
        """The stored checkpoint of (platform, query); a fresh one if it was never crawled."""
        with self.db.connect() as conn:
            row = conn.execute(select(t.checkpoints).where(
                t.checkpoints.c.platform == platform, t.checkpoints.c.query == query)).first()
        if row is None:
            return Checkpoint(platform, query)
        return Checkpoint(row.platform, row.query, row.high_water, row.cursor,
                          row.pending_high_water, row.updated_at)

    def save_checkpoint(self, cp: Checkpoint) -> None:
        row = {"platform": cp.platform, "query": cp.query, "high_water": cp.high_water,
               "cursor": cp.cursor, "pending_high_water": cp.pending_high_water, "updated_at": utcnow()}
        with self.db.begin() as conn:
            conn.execute(*self.db.upsert(t.checkpoints, [row], ["platform", "query"]))

    def checkpoints(self) -> list[Checkpoint]:
        with self.db.connect() as conn:
            rows = conn.execute(select(t.checkpoints).order_by(t.checkpoints.c.platform,
                                                                 t.checkpoints.c.query)).all()
        return [Checkpoint(r.platform, r.query, r.high_water, r.cursor, r.pending_high_water,
                           r.updated_at) for r in rows]

    def record_run(self, run: CrawlRun) -> None:
        with self.db.begin() as conn:
            conn.execute(t.crawl_runs.insert().values(**asdict(run)))

    def runs(self, limit: int = 50) -> list[CrawlRun]:
        q = select(t.crawl_runs).order_by(t.crawl_runs.c.id.desc()).limit(limit)
        with self.db.connect() as conn:
            return [CrawlRun(r.platform, r.query, r.started_at, r.finished_at, r.status, r.pages,
                             r.posts_new, r.posts_updated, r.errors, r.blocked_reason,
                             list(r.alarms or []), r.posts_skipped or 0)
                    for r in conn.execute(q)]

    def record_stage_run(self, run: StageRun) -> None:
        with self.db.begin() as conn:
            conn.execute(t.stage_runs.insert().values(
                stage=run.stage, window_start=run.window.start, window_end=run.window.end,
                started_at=run.started_at, finished_at=run.finished_at, counts=run.counts))

    def stage_runs(self, limit: int = 20) -> list[StageRun]:
        q = select(t.stage_runs).order_by(t.stage_runs.c.id.desc()).limit(limit)
        with self.db.connect() as conn:
            return [StageRun(r.stage, Window(r.window_start, r.window_end), r.started_at,
                             r.finished_at, r.counts) for r in conn.execute(q)]
