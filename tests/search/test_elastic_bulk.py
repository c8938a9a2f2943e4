"""Elasticsearch only: a bulk item that fails is retried, and one that keeps failing raises
naming its post id; nothing is dropped silently."""
from __future__ import annotations

import pytest

from core.search import IndexingError, PostQuery
from tests.search.test_search_contract import ep


# Only the Elasticsearch case of the two-backend fixture.
pytestmark = pytest.mark.parametrize("search_backend", ["elasticsearch"], indirect=True)


@pytest.fixture
def elastic(search_backend):
    return search_backend


def fail_items(monkeypatch, index, post_id: str, times: int | None) -> list[int]:
    """Make the server's bulk answer report `post_id` as failed (500), `times` times (None: always)."""
    cls = type(index.es)
    real = cls.bulk
    calls = []

    def bulk(self, *args, **kwargs):
        resp = real(self, *args, **kwargs)
        for item in resp.body["items"]:
            info = next(iter(item.values()))
            if info.get("_id") == post_id and (times is None or len(calls) < times):
                calls.append(1)
                info.update(status=500, error={"type": "test_failure", "reason": "injected by the test"})
                resp.body["errors"] = True
        return resp

    # On the class: streaming_bulk works on a copy of the client made by `client.options()`.
    monkeypatch.setattr(cls, "bulk", bulk)
    return calls


def test_a_failed_item_is_retried_and_succeeds(elastic, monkeypatch):
    calls = fail_items(monkeypatch, elastic, "weibo:2", times=1)
    assert elastic.index_posts([ep("1", "噪音扰民"), ep("2", "噪音扰民"), ep("3", "停车难")]) == 3
    elastic.refresh()
    assert len(calls) == 1
    assert sorted(h.post_id for h in elastic.search_posts(PostQuery("噪音")).hits) == ["weibo:1", "weibo:2"]


def test_a_persistent_failure_raises_with_the_post_id(elastic, monkeypatch):
    fail_items(monkeypatch, elastic, "weibo:2", times=None)
    with pytest.raises(IndexingError, match="weibo:2") as info:
        elastic.index_posts([ep("1", "噪音扰民"), ep("2", "噪音扰民")])
    assert info.value.ids == ["weibo:2"]
    assert "injected by the test" in str(info.value)

