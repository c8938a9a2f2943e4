"""The embedded backend's own concerns: character-pair tokens for two-character words, and an
index written before they existed."""
from __future__ import annotations

from core.models import EnrichedPost, Enrichment
from core.search import PostQuery
from core.search.embedded import EmbeddedSearch, bigrams, top_k
from tests.conftest import make_post


def _ep(n: str, text: str) -> EnrichedPost:
    post = make_post(n, text)
    return EnrichedPost(post, Enrichment(post.id, text, True, 0.9, "城乡建设", "南山区", None))


def test_bigrams_are_the_overlapping_pairs_of_each_run():
    assert bigrams("路灯坏了, KTV吵") == "路灯 灯坏 坏了 kt tv v吵"
    assert bigrams("灯。") == "灯"
    assert bigrams("") == ""


def test_an_index_without_pair_tokens_gets_them_when_opened(search_store):
    index = EmbeddedSearch(search_store, dims=4)
    index.index_posts([_ep("1", "龙珠花园路灯坏了"), _ep("2", "噪音扰民")])
    with search_store.engine.begin() as conn:  # as an index written before the pair table
        conn.exec_driver_sql("DROP TABLE search_posts_bi")
    reopened = EmbeddedSearch(search_store, dims=4)
    assert [h.post_id for h in reopened.search_posts(PostQuery("路灯 坏了")).hits] == ["weibo:1"]
    assert reopened.search_posts(PostQuery("噪音")).total == 1


def test_top_k_is_a_stable_sort_of_the_finite_scores_cut_at_k():
    import numpy as np
    rng = np.random.default_rng(5)
    for _ in range(300):
        row = rng.integers(0, 6, size=int(rng.integers(0, 40))).astype(float)  # many ties
        row[rng.random(len(row)) < 0.1] = np.nan
        row[rng.random(len(row)) < 0.1] = -np.inf
        k = int(rng.integers(0, 12))
        expected = [j for j in np.argsort(-row, kind="stable") if np.isfinite(row[j])][:k]
        assert top_k(row, k).tolist() == expected
