"""The store contract, run against SQLite and PostgreSQL."""
from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta, timezone

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import text

from core.models import (Checkpoint, CrawlRun, Engagement, Enrichment, Lead, LeadEvent,
                         LeadStatus, PriorityParts, Window)
from core.store import ConcurrencyError, LeadNotFound
from core.store.tables import metadata
from tests.conftest import T0, make_post


def _enrichment(post, relevant=True, district="南山区", category="交通运输"):
    return Enrichment(post_id=post.id, normalized_text=post.text, relevant=relevant,
                      relevance_score=0.9 if relevant else 0.1, category=category,
                      district=district, street=None, reasons=("test",), text_hash="h" + post.id)


def _lead(lead_id="L000000000001", priority=0.5, district="南山区", category="交通运输", status=LeadStatus.NEW):
    return Lead(id=lead_id, status=status, title="路面坑洼", category=category, district=district,
                street=None, unit=None, urgent=False, priority=priority, priority_parts=PriorityParts(),
                post_count=1, platform_count=1, first_seen=T0, last_seen=T0)


def test_migrations_match_the_table_definitions(store):
    with store.engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), metadata)
    assert diff == []


def test_sqlite_runs_in_wal_mode(sqlite_store):
    with sqlite_store.engine.connect() as conn:
        assert conn.execute(text("PRAGMA journal_mode")).scalar() == "wal"


def test_upsert_counts_new_updated_unchanged_and_keeps_one_row(store):
    a, b = make_post("1", "深南大道有个坑"), make_post("2", "噪音扰民")
    assert store.posts.upsert([a, b]).new == 2
    again = store.posts.upsert([a, replace(b, engagement=Engagement(likes=9))])
    assert (again.new, again.updated, again.unchanged) == (0, 1, 1)
    assert store.reports.counts()["posts"] == 2
    assert store.posts.get(["weibo:2"])[0].engagement.likes == 9


def test_datetimes_come_back_aware_and_equal(store):
    local = datetime(2026, 11, 21, 10, 12, tzinfo=timezone(timedelta(hours=8)))
    store.posts.upsert([make_post("1", "x", at=local)])
    got = store.posts.get(["weibo:1"])[0]
    assert got.published_at == local and got.published_at.tzinfo is not None


def test_naive_datetime_is_refused():
    with pytest.raises(ValueError, match="timezone-aware"):
        make_post("1", "x", at=datetime(2026, 1, 1))


def test_posts_to_enrich_are_new_or_changed_and_in_window(store):
    inside, outside = make_post("1", "a"), make_post("2", "b", at=T0 - timedelta(days=40))
    store.posts.upsert([inside, outside])
    window = Window(T0 - timedelta(days=1), T0 + timedelta(days=1))
    assert [p.id for batch in store.posts.to_enrich(window) for p in batch] == ["weibo:1"]
    store.posts.save_enrichments([(inside, _enrichment(inside))])
    assert list(store.posts.to_enrich(window)) == []
    changed = replace(inside, text="a, edited")
    store.posts.upsert([changed])
    assert [p.text for batch in store.posts.to_enrich(window) for p in batch] == ["a, edited"]


def test_a_post_read_back_is_not_enriched_again(store):
    china = timezone(timedelta(hours=8))
    post = make_post("1", "a", at=datetime(2026, 11, 21, 10, 12, tzinfo=china))
    store.posts.upsert([post])
    [stored] = [p for batch in store.posts.to_enrich(Window.everything()) for p in batch]
    store.posts.save_enrichments([(stored, _enrichment(stored))])
    assert list(store.posts.to_enrich(Window.everything())) == []
    assert store.posts.upsert([post]).unchanged == 1


def test_iterating_in_small_batches_sees_every_post_once(store):
    posts = [make_post(str(i), f"t{i}") for i in range(25)]
    store.posts.upsert(posts)
    seen = [p.id for batch in store.posts.to_enrich(Window.everything(), batch=7) for p in batch]
    assert sorted(seen) == sorted(p.id for p in posts)


def test_unassigned_relevant_excludes_irrelevant_and_assigned(store):
    a, b, c = make_post("1", "a"), make_post("2", "b"), make_post("3", "c")
    store.posts.upsert([a, b, c])
    store.posts.save_enrichments([(a, _enrichment(a)), (b, _enrichment(b)), (c, _enrichment(c, relevant=False))])
    store.leads.create(_lead(), [("weibo:1", 1.0)], LeadEvent("L000000000001", "created", "test", T0))
    assert [ep.id for ep in store.posts.unassigned_relevant(Window.everything())] == ["weibo:2"]


def test_lead_update_is_optimistic(store):
    store.posts.upsert([make_post("1", "a"), make_post("2", "b")])
    lead = _lead()
    store.leads.create(lead, [("weibo:1", 1.0)], LeadEvent(lead.id, "created", "test", T0))
    updated = store.leads.update(replace(lead, post_count=2), expected_version=1,
                                 event=LeadEvent(lead.id, "posts_added", "test", T0), members=[("weibo:2", 0.7)])
    assert updated.version == 2 and updated.post_count == 2
    with pytest.raises(ConcurrencyError):
        store.leads.update(replace(lead, title="stale"), expected_version=1)
    with pytest.raises(LeadNotFound):
        store.leads.update(replace(lead, id="L999999999999"), expected_version=1)
    assert [e.kind for e in store.leads.events(lead.id)] == ["created", "posts_added"]
    assert sorted(store.leads.member_ids([lead.id])[lead.id]) == ["weibo:1", "weibo:2"]


def test_list_leads_filters_sorts_and_pages(store):
    store.posts.upsert([make_post(str(i), "x") for i in range(5)])
    specs = [("L000000000001", 0.2, "南山区"), ("L000000000002", 0.9, "福田区"),
             ("L000000000003", 0.5, "南山区"), ("L000000000004", 0.7, "南山区")]
    for i, (lid, prio, district) in enumerate(specs):
        store.leads.create(_lead(lid, prio, district), [(f"weibo:{i}", 1.0)], LeadEvent(lid, "created", "t", T0))
    total, leads = store.leads.list(district="南山区", limit=2)
    assert total == 3 and [l.id for l in leads] == ["L000000000004", "L000000000003"]
    total, leads = store.leads.list(district="南山区", limit=2, offset=2)
    assert [l.id for l in leads] == ["L000000000001"]
    assert store.leads.list(status="verified")[0] == 0
    with pytest.raises(LeadNotFound):
        store.leads.get("L0000000000ff")


def test_checkpoints_and_crawl_runs_round_trip(store):
    assert store.crawl.checkpoint("weibo", "102803") == Checkpoint("weibo", "102803")
    store.crawl.save_checkpoint(Checkpoint("weibo", "102803", high_water="5", cursor="page=3"))
    store.crawl.save_checkpoint(Checkpoint("weibo", "102803", high_water="9", cursor=None))
    cp = store.crawl.checkpoint("weibo", "102803")
    assert (cp.high_water, cp.cursor) == ("9", None)
    store.crawl.record_run(CrawlRun("weibo", "102803", T0, T0 + timedelta(seconds=3), "blocked",
                                    pages=2, posts_new=40, errors={"http_418": 1}, blocked_reason="HTTP 418"))
    run = store.crawl.runs()[0]
    assert run.errors == {"http_418": 1} and run.blocked_reason == "HTTP 418"


def test_unicode_and_large_text_survive(store):
    big = "深圳" * 100_000 + "😀\u200b"
    store.posts.upsert([make_post("1", big)])
    assert store.posts.get(["weibo:1"])[0].text == big


def test_embedding_cache_round_trip_and_upsert(store):
    import numpy as np
    a = np.linspace(-1, 1, 384, dtype=np.float32)
    b = np.arange(384, dtype=np.float64) / 384  # stored as float32
    assert store.posts.get_embeddings("m1", ["ha", "hb"]) == {}
    assert store.posts.put_embeddings("m1", [("ha", a), ("hb", b), ("ha", a)]) == 2
    got = store.posts.get_embeddings("m1", ["ha", "hb", "hc", "ha"])
    assert set(got) == {"ha", "hb"}
    assert got["ha"].dtype == np.float32 and got["ha"].shape == (384,)
    assert np.array_equal(got["ha"], a) and np.allclose(got["hb"], b.astype(np.float32))
    got["ha"][0] = 5.0  # returned vectors are writable copies
    # Keyed by model: another model sees nothing; an upsert replaces the vector.
    assert store.posts.get_embeddings("m2", ["ha"]) == {}
    store.posts.put_embeddings("m1", [("ha", -a)])
    assert np.array_equal(store.posts.get_embeddings("m1", ["ha"])["ha"], -a)


def test_embedding_cache_many_rows(store):
    import numpy as np
    rng = np.random.default_rng(0)
    items = [(f"h{i:05d}", rng.standard_normal(8).astype(np.float32)) for i in range(1200)]
    store.posts.put_embeddings("m", items)
    got = store.posts.get_embeddings("m", [h for h, _ in items])
    assert len(got) == 1200 and all(np.array_equal(got[h], v) for h, v in items)


def test_unit_of_work_commits_together_or_not_at_all(store):
    post = make_post("1", "深南大道有个坑")
    lead = _lead()
    with pytest.raises(RuntimeError):
        with store.unit_of_work() as uow:
            uow.posts.upsert([post])
            uow.leads.create(lead, [(post.id, 1.0)], LeadEvent(lead.id, "created", "test", T0))
            assert uow.leads.get(lead.id).id == lead.id  # its own writes are visible inside
            raise RuntimeError("the action fails after its writes")
    assert store.reports.counts()["posts"] == 0 and store.leads.list()[0] == 0
    with store.unit_of_work() as uow:
        uow.posts.upsert([post])
        uow.leads.create(lead, [(post.id, 1.0)], LeadEvent(lead.id, "created", "test", T0))
        uow.crawl.save_checkpoint(Checkpoint("weibo", "q", high_water="1"))
    assert store.leads.member_ids([lead.id]) == {lead.id: [post.id]}
    assert store.crawl.checkpoint("weibo", "q").high_water == "1"
