"""Forgetting reaches the search index, on both backends: after forgetting an author no post
search returns their posts, and the leads they were in are re-indexed with their new titles."""
from __future__ import annotations

from datetime import timedelta

from core.forget import EMPTIED_TITLE, ForgetKind, ForgetRequest, author_subject
from core.search import PostQuery
from pipeline.forget import forget_posts, purge_retention
from tests.conftest import T0
from tests.pipeline.forget_rig import SALT, VICTIM, add, seed


def _index_everything(store, index):
    for batch in store.posts.iter_enriched():
        index.index_posts(batch)
    for batch in store.leads.iter_all():
        index.index_leads(batch)
    index.refresh()


def _ids(index, text):
    return {h.post_id for h in index.search_posts(PostQuery(text, size=100)).hits}


def test_forgotten_author_is_gone_from_the_search_index(search_store, search_backend, config):
    store, index = search_store, search_backend
    s = seed(store, config)
    _index_everything(store, index)
    assert {"weibo:p0", "weibo:p1"} <= _ids(index, "大坑") and {"weibo:n0", "weibo:n1"} <= _ids(index, "桃源村")
    assert [h.lead_id for h in index.search_leads("桃源村")] == [s.noise_lead]
    platform, hashed = author_subject("weibo", author_id=VICTIM, salt=SALT)
    request = ForgetRequest(ForgetKind.AUTHOR, "dpo", f"{platform}:{hashed}", None, T0 + timedelta(days=1))
    summary = forget_posts(store, config, index, request, store.forget.author_posts(platform, hashed))
    assert summary.search == "done: 3"
    assert _ids(index, "大坑") == {"weibo:p1", "szrss:p2"}
    assert _ids(index, "桃源村") == set() and _ids(index, "噪音") == set()
    assert not {"weibo:p0", "weibo:n0", "weibo:n1"} & {h.post_id for h in index.search_posts(
        PostQuery(platform="weibo", size=100)).hits}
    assert index.count_posts() == 3
    # the emptied lead's title, drawn from their posts, is no longer searchable
    assert index.search_leads("桃源村") == []
    assert [h.title for h in index.search_leads("已全部删除")] == [store.leads.get(s.noise_lead).title]
    assert store.leads.get(s.noise_lead).title.startswith(EMPTIED_TITLE)
    assert store.forget.requests()[0]["index_status"] == "done: 3"


def test_retention_purges_the_index_before_the_cutoff(search_store, search_backend, config):
    store, index = search_store, search_backend
    seed(store, config)
    add(store, "old1", "很久以前：宝安区某路口红绿灯坏了", at=T0 - timedelta(days=400))
    _index_everything(store, index)
    assert _ids(index, "红绿灯") == {"weibo:old1"}
    cutoff = T0 - timedelta(days=365)
    summary = purge_retention(store, config, index, ForgetRequest(ForgetKind.RETENTION, "retention",
                                                                  cutoff.isoformat(), None, T0), cutoff)
    assert summary.posts == 1 and summary.search.startswith("done")
    assert _ids(index, "红绿灯") == set() and index.count_posts() == 6
