"""Elasticsearch only: `radar index rebuild` fills a new generation beside the live one and swaps
the aliases, so the desk searches without a gap, and what changes in the store meanwhile (a
new post, a forgotten one) is right after the swap."""
from __future__ import annotations

import uuid
from datetime import timedelta

import pytest

from core.forget import ForgetKind, ForgetRequest
from core.models import Enrichment
from core.search import PostQuery
from core.search.elastic import ElasticSearch
from pipeline.commands.index import rebuild_index
from pipeline.forget import forget_posts
from tests.conftest import T0, make_post

NOISE = "噪音 扰民"


def _enrich(store, posts) -> None:
    store.posts.upsert(posts)
    store.posts.save_enrichments([(p, Enrichment(p.id, p.text, True, 0.9, "生态环境", "南山区", None)) for p in posts])


@pytest.fixture
def live(elasticsearch_url, search_store):
    """A live index of six noise posts (generation 1, as the pipeline built it)."""
    index = ElasticSearch(elasticsearch_url, store=search_store, prefix=f"t{uuid.uuid4().hex[:10]}", dims=4,
                          backoff=0.01)
    index.reset()
    posts = [make_post(f"n{n}", f"第{n}栋楼下噪音扰民", at=T0 + timedelta(minutes=n)) for n in range(6)]
    _enrich(search_store, posts)
    index.index_posts(search_store.posts.enriched([p.id for p in posts]))
    index.refresh()
    yield index
    for name in index.es.indices.get(index=f"{index.prefix}-*").keys():
        index.es.indices.delete(index=name)
    for name in (index.posts_alias, f"{index.posts_alias}-next"):
        try:
            index.es.indices.delete_index_template(name=name)
        except Exception:  # noqa: BLE001 - not there
            pass
    index.close()


def _hits(index) -> set[str]:
    page = index.search_posts(PostQuery(NOISE, size=50))
    assert page.total == len(page.hits)
    return {h.post_id for h in page.hits}


def test_the_desk_searches_the_old_index_until_the_swap_and_the_new_one_after(live, search_store, elasticsearch_url,
                                                                              config):
    desk = ElasticSearch(elasticsearch_url, store=search_store, prefix=live.prefix, dims=4)  # opened before
    pipeline = ElasticSearch(elasticsearch_url, store=search_store, prefix=live.prefix, dims=4)
    before = _hits(desk)
    assert len(before) == 6
    seen_during: list[set[str]] = []

    def meanwhile(what: str, n: int) -> None:
        if what != "posts" or seen_during:
            return
        # Halfway through the fill: the desk still gets every answer from the old generation ...
        seen_during.append(_hits(desk))
        # ... a person asks to be forgotten (one post the fill has already copied: the deletion
        # reaches only the live, old index) ...
        request = ForgetRequest(ForgetKind.POSTS, "dpo", None, None, T0 + timedelta(days=1))
        forget_posts(search_store, config, pipeline, request, ["weibo:n0"])
        # ... and the pipeline enriches and indexes a new post into the old generation.
        fresh = make_post("n9", "第9栋楼下噪音扰民", at=T0 + timedelta(hours=1))
        _enrich(search_store, [fresh])
        pipeline.index_posts(search_store.posts.enriched([fresh.id]))
        pipeline.refresh()

    right_after: list[set[str]] = []
    swap = live.finish_rebuild

    def observed_swap(staged):
        out = swap(staged)
        right_after.append(_hits(desk))  # before the grace and the second catch-up
        return out

    live.finish_rebuild = observed_swap
    summary = rebuild_index(search_store, live, batch=2, on_batch=meanwhile)

    assert seen_during[0] == before
    # from the swap on: the forgotten post gone, the new one there, with no wait for the grace
    assert right_after == [before - {"weibo:n0"} | {"weibo:n9"}]
    assert summary["generation"] == 2 and summary["posts"] >= 6
    assert summary["forgotten_meanwhile"] == 1 and summary["caught_up_posts"] == 1
    after = _hits(desk)  # the same reader object, never told about the swap
    assert after == before - {"weibo:n0"} | {"weibo:n9"}
    assert live.outdated() == [] and desk.count_posts() == 6
    # the old generation is gone; only generation 2's indices remain
    names = set(live.es.indices.get(index=f"{live.prefix}-*").keys())
    assert names == {f"{live.prefix}-g2-posts-2026.11", f"{live.prefix}-g2-leads"}
    # a writer opened before the swap writes into the live generation, never into a dropped one
    late = make_post("n10", "第10栋楼下噪音扰民", at=T0 + timedelta(hours=2))
    _enrich(search_store, [late])
    pipeline.index_posts(search_store.posts.enriched([late.id]))
    pipeline.refresh()
    assert "weibo:n10" in _hits(desk)
    assert set(live.es.indices.get(index=f"{live.prefix}-*").keys()) == names


def test_a_second_rebuild_moves_on_and_an_interrupted_one_leaves_the_live_index_alone(live, search_store):
    first = rebuild_index(search_store, live)
    assert first["generation"] == 2
    # A rebuild that dies halfway leaves its staging generation behind, unread ...
    staged = live.begin_rebuild()
    staged.index_posts(search_store.posts.enriched(["weibo:n1"]))
    staged.refresh()
    assert len(_hits(live)) == 6
    # ... and the next rebuild empties it and starts again.
    second = rebuild_index(search_store, live)
    assert second["generation"] == 3 and len(_hits(live)) == 6
    assert set(live.es.indices.get(index=f"{live.prefix}-*").keys()) == {
        f"{live.prefix}-g3-posts-2026.11", f"{live.prefix}-g3-leads"}


def test_finish_refuses_what_is_not_the_next_generation(live):
    staged = live.begin_rebuild()
    with pytest.raises(Exception, match="not the rebuild"):
        live.finish_rebuild(live)
    assert live.finish_rebuild(staged)  # the old generation's names, to drop
    with pytest.raises(Exception, match="not the rebuild"):
        live.finish_rebuild(staged)  # already live
