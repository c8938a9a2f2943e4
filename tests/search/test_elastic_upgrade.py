"""Elasticsearch only: an index built by an earlier version of the mapping."""
from __future__ import annotations

import pytest


def test_an_index_from_before_the_exact_subfields_asks_for_a_rebuild(elasticsearch_url, search_store):
    """Term search runs on `.exact` / `.char`; an index made without them would answer nothing,
    silently. It is refused, naming the command that brings it up to date."""
    import uuid

    from core.search import PostQuery, SearchUnavailable
    from core.search.elastic import ElasticSearch
    from pipeline.commands.index import rebuild_index
    from tests.search.test_search_contract import ep
    prefix = f"t{uuid.uuid4().hex[:10]}"
    old = ElasticSearch(elasticsearch_url, store=search_store, prefix=prefix, dims=4)
    old.es.indices.delete_index_template(name=old.posts_alias)  # as an earlier version left it
    old.es.indices.create(index=f"{prefix}-posts-2020.01", aliases={f"{prefix}-posts": {}},
                          mappings={"properties": {"title": {"type": "text", "analyzer": "cjk"},
                                                   "text": {"type": "text", "analyzer": "cjk"}}})
    try:
        index = ElasticSearch(elasticsearch_url, store=search_store, prefix=prefix, dims=4)
        assert index.outdated() == [f"{prefix}-posts-2020.01"]
        with pytest.raises(SearchUnavailable, match="radar index rebuild"):
            index.search_posts(PostQuery("路灯"))
        post = ep("1", "路灯坏了")
        search_store.posts.upsert([post.post])
        search_store.posts.save_enrichments([(post.post, post.enrichment)])
        summary = rebuild_index(search_store, index)
        assert summary["generation"] == 2 and summary["dropped"] == 2  # the old month and leads index
        assert index.outdated() == []
        assert [h.post_id for h in index.search_posts(PostQuery("路灯")).hits] == ["weibo:1"]
    finally:
        for name in index._post_indices() + [index.leads_index]:
            index.es.indices.delete(index=name)
        index.es.indices.delete_index_template(name=index.posts_alias)
