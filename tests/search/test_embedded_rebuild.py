"""The embedded index: `radar index rebuild` fills staging tables beside the live ones and swaps
them in within one transaction, so the desk (another process, another connection) never
searches an empty index, and what changes in the store meanwhile is right after the swap."""
from __future__ import annotations

from datetime import timedelta

import numpy as np
import pytest
from sqlalchemy import text

from core.forget import ForgetKind, ForgetRequest
from core.models import Enrichment
from core.search import PostQuery, SearchError
from core.search.embedded import EmbeddedSearch
from core.store import Store
from pipeline.commands.index import rebuild_index
from pipeline.forget import forget_posts
from tests.conftest import T0, make_post

NOISE = "噪音 扰民"


def _enrich(store, posts) -> None:
    store.posts.upsert(posts)
    store.posts.save_enrichments([(p, Enrichment(p.id, p.text, True, 0.9, "生态环境", "南山区", None)) for p in posts])


@pytest.fixture
def live(search_store):
    """A live embedded index of six noise posts, as the pipeline built it."""
    index = EmbeddedSearch(search_store, dims=4)
    posts = [make_post(f"n{n}", f"第{n}栋楼下噪音扰民", at=T0 + timedelta(minutes=n)) for n in range(6)]
    _enrich(search_store, posts)
    index.index_posts(search_store.posts.enriched([p.id for p in posts]))
    return index


@pytest.fixture
def desk(search_store):
    """The desk's own view: another Store on the same file, as the API server process has."""
    url = search_store.engine.url.render_as_string(hide_password=False)
    other = Store.open(url)
    yield EmbeddedSearch(other, dims=4)
    other.close()


def _hits(index) -> set[str]:
    page = index.search_posts(PostQuery(NOISE, size=50))
    assert page.total == len(page.hits)
    return {h.post_id for h in page.hits}


def _tables(store) -> set[str]:
    with store.engine.connect() as conn:
        return {name for (name,) in conn.execute(text("SELECT name FROM sqlite_master WHERE name LIKE 'search%'"))}


def test_the_desk_never_searches_an_empty_index_and_changes_meanwhile_land(live, desk, search_store, config):
    pipeline = EmbeddedSearch(search_store, dims=4)
    before = _hits(desk)
    assert len(before) == 6
    seen_during: list[set[str]] = []

    def meanwhile(what: str, n: int) -> None:
        if what != "posts":
            return
        seen_during.append(_hits(desk))
        if len(seen_during) > 1:
            return
        # Halfway through the fill: a person asks to be forgotten (a post the fill has already
        # copied: the deletion reaches only the live tables) ...
        request = ForgetRequest(ForgetKind.POSTS, "dpo", None, None, T0 + timedelta(days=1))
        forget_posts(search_store, config, pipeline, request, ["weibo:n0"])
        # ... and the pipeline enriches and indexes a new post into the live tables.
        fresh = make_post("n9", "第9栋楼下噪音扰民", at=T0 + timedelta(hours=1))
        _enrich(search_store, [fresh])
        pipeline.index_posts(search_store.posts.enriched([fresh.id]))

    right_after: list[set[str]] = []
    swap = live.finish_rebuild

    def observed_swap(staged):
        out = swap(staged)
        right_after.append(_hits(desk))  # before the second catch-up
        return out

    live.finish_rebuild = observed_swap
    summary = rebuild_index(search_store, live, batch=2, on_batch=meanwhile, grace=30)

    # the first look was before the forget; every later one saw the live tables as changed
    assert seen_during[0] == before
    after = before - {"weibo:n0"} | {"weibo:n9"}
    assert seen_during[1:] == [after] * (len(seen_during) - 1)
    assert right_after == [after]  # the forgotten post never came back, the new one was there at once
    assert len(seen_during) >= 3 and summary["seconds"] < 30  # the grace is for Elasticsearch only
    assert summary["forgotten_meanwhile"] == 1
    assert "generation" not in summary
    assert _hits(desk) == before - {"weibo:n0"} | {"weibo:n9"}
    # the staging tables became the live ones, with the readers' indexes; none are left over
    tables = _tables(search_store)
    assert not {t for t in tables if t.startswith("search_next_")}
    assert {"search_posts", "search_posts_fts", "search_posts_order", "search_posts_trend",
            "search_leads_point"} <= tables
    # the pipeline's old object writes into the new tables
    late = make_post("n10", "第10栋楼下噪音扰民", at=T0 + timedelta(hours=2))
    _enrich(search_store, [late])
    pipeline.index_posts(search_store.posts.enriched([late.id]))
    assert "weibo:n10" in _hits(desk)


def test_an_interrupted_rebuild_leaves_the_live_index_alone(live, desk, search_store):
    staged = live.begin_rebuild()
    staged.index_posts(search_store.posts.enriched(["weibo:n1"]))
    assert staged.count_posts() == 1 and len(_hits(desk)) == 6
    # the next rebuild empties what the dead one left and starts again
    summary = rebuild_index(search_store, live)
    assert summary["posts"] == 6 and len(_hits(desk)) == 6
    assert not {t for t in _tables(search_store) if t.startswith("search_next_")}


def test_the_swap_keeps_vectors_and_refuses_what_is_not_a_staging_index(live, search_store):
    with pytest.raises(SearchError, match="staging index"):
        live.finish_rebuild(live)
    staged = live.begin_rebuild()
    with pytest.raises(SearchError, match="begin a rebuild"):
        staged.begin_rebuild()
    staged.index_posts(search_store.posts.enriched(["weibo:n2"]),
                       embeddings={"weibo:n2": np.array([1, 0, 0, 0], dtype=np.float32)})
    assert live.finish_rebuild(staged) == []
    assert live.count_posts() == 1
    with search_store.engine.connect() as conn:
        assert conn.execute(text("SELECT embedding IS NOT NULL FROM search_posts")).scalar_one() == 1
