"""radar_daily's retention task: posts older than retention.raw_post_days before the run's
interval end are forgotten from the store and the (embedded) search index; newer ones stay."""
from __future__ import annotations

from datetime import timedelta

from core.models import Enrichment
from core.search import PostQuery
from core.search.embedded import EmbeddedSearch
from core.settings import Settings
from core.store import Store
from pipeline.tasks import retention_purge
from tests.conftest import T0, make_post


def test_the_retention_task_purges_old_posts_from_store_and_index(tmp_path, monkeypatch, config):
    monkeypatch.setenv("RADAR_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("DATABASE_URL", raising=False)
    monkeypatch.delenv("ELASTICSEARCH_URL", raising=False)
    days = config.radar.retention.raw_post_days
    store = Store.open(Settings().db_url)
    old = make_post("old", "龙珠花园路灯坏了", at=T0 - timedelta(days=days + 1))
    new = make_post("new", "龙珠花园路灯又坏了", at=T0 - timedelta(days=days - 1))
    store.posts.upsert([old, new])
    store.posts.save_enrichments([(p, Enrichment(p.id, p.text, True, 0.9, "城乡建设", "南山区", None))
                                  for p in (old, new)])
    index = EmbeddedSearch(store)
    index.index_posts(store.posts.enriched([old.id, new.id]))

    summary = retention_purge(T0)
    assert summary["posts"] == 1
    assert store.posts.get([old.id, new.id])[0].id == new.id and len(store.posts.get([old.id])) == 0
    assert [h.post_id for h in index.search_posts(PostQuery("路灯")).hits] == [new.id]
    assert retention_purge(T0)["posts"] == 0  # a re-run of the same day purges nothing more
    store.close()
