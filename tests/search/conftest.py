"""Fixtures for the search contract: every test runs against both backends.

Elasticsearch: ELASTICSEARCH_URL when set, else the local stand-in server (PyPI noida-db)
started once per session. When neither is available the Elasticsearch cases skip, or fail
when RADAR_REQUIRE_ELASTICSEARCH=1 (as CI sets it).
"""
from __future__ import annotations

import os
import uuid

import pytest

from core.store import Store
from tests.search.server import StandInFailed, start_stand_in, stop_group


def _unavailable(reason: str):
    if os.environ.get("RADAR_REQUIRE_ELASTICSEARCH") == "1":
        pytest.fail(f"Elasticsearch is required here but unavailable: {reason}")
    pytest.skip(f"Elasticsearch unavailable: {reason}")


@pytest.fixture(scope="session")
def elasticsearch_url(tmp_path_factory):
    """The URL of a cluster for the whole session (started here when none is given)."""
    if os.environ.get("ELASTICSEARCH_URL"):
        yield os.environ["ELASTICSEARCH_URL"]
        return
    try:
        url, proc = start_stand_in(tmp_path_factory.mktemp("noida"))
    except StandInFailed as exc:
        _unavailable(str(exc))
    try:
        yield url
    finally:
        stop_group(proc)


@pytest.fixture
def search_store(tmp_path):
    store = Store.open(f"sqlite:///{tmp_path}/radar.db")
    yield store
    store.close()


@pytest.fixture(params=["embedded", "elasticsearch"])
def search_backend(request, search_store):
    """A fresh, empty search index of each kind over a fresh SQLite store."""
    if request.param == "embedded":
        from core.search.embedded import EmbeddedSearch
        index = EmbeddedSearch(search_store, dims=4)
        yield index
        index.close()
        return
    from core.search.elastic import ElasticSearch
    url = request.getfixturevalue("elasticsearch_url")
    # A prefix of its own per test: a real cluster is never polluted and tests never see
    # each other's documents.
    index = ElasticSearch(url, store=search_store, prefix=f"t{uuid.uuid4().hex[:10]}", dims=4, backoff=0.01)
    index.reset()
    yield index
    for name in index._post_indices() + [index.leads_index]:
        index.es.indices.delete(index=name)
    index.es.indices.delete_index_template(name=index.posts_alias)
    index.close()
