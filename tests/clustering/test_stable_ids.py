"""Lead ids never change meaning: a corpus fed in 20 batches, checked after every batch."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from clustering.stage import cluster
from core.models import Engagement, LeadStatus, Post, Window
from crawlers.simulator.corpus import generate
from enrichment.stage import enrich

END = datetime(2026, 11, 20, 12, tzinfo=timezone.utc)


def as_post(sim) -> Post:
    return Post(platform=sim.platform, native_id=sim.native_id, url=f"https://sim.invalid/{sim.post_id}",
                author_hash="x", author_name=sim.author_name, title=sim.title, text=sim.text,
                published_at=sim.published_at, crawled_at=sim.published_at,
                engagement=Engagement(sim.likes, sim.comments, sim.shares, sim.views), geotag=sim.geotag,
                reposted_id=f"{sim.platform}:{sim.reposted_native_id}" if sim.reposted_native_id else None)


@pytest.mark.slow
def test_no_post_changes_lead_except_through_a_recorded_merge(sqlite_store, config):
    store = sqlite_store
    posts = [as_post(p) for p, _ in generate(21, 1600, END)]
    batches = [sorted(posts[i * 80:(i + 1) * 80], key=lambda p: p.published_at) for i in range(20)]
    seen: dict[str, str] = {}
    for batch in batches:
        store.posts.upsert(batch)
        window = Window(END - timedelta(days=60), max(p.published_at for p in batch) + timedelta(seconds=1))
        enrich(store, config, window)
        cluster(store, config, window)
        total, leads = store.leads.list(limit=100_000)
        members = store.leads.member_ids([l.id for l in leads])
        now_in = {pid: lid for lid, pids in members.items() for pid in pids}
        for pid, old in seen.items():
            new = now_in.get(pid)
            if new == old:
                continue
            # The only legal move: the old lead was merged into the new one, and it says so.
            gone = store.leads.get(old)
            assert gone.status == LeadStatus.MERGED and gone.merged_into == new, (pid, old, new)
            assert store.leads.events(old)[-1].kind == "merged"
        for lid in {l.id for l in leads}:
            assert store.leads.events(lid)[0].kind == "created"
        seen = now_in
    assert len(seen) > 200
