"""Spikes counted by each backend's aggregations (clustering.trends with a search index) agree
with the store's count of the same posts."""
from __future__ import annotations

from datetime import timedelta

from clustering.trends import trends
from core.models import Window
from tests.search.test_search_contract import FUTIAN, NANSHAN, TRAFFIC, ep, seed
from tests.conftest import T0


def test_spikes_from_the_index_are_the_stores(search_backend, search_store, config):
    minute, hour = timedelta(minutes=1), timedelta(hours=1)
    items = ([ep(f"b{i}", "路灯不亮", at=T0 - 50 * minute + 5 * i * minute) for i in range(8)]       # 南山区: a burst
             + [ep(f"s{i}", "红绿灯坏了", at=T0 - 14 * 24 * hour + i * hour, district=FUTIAN, category=TRAFFIC)
                for i in range(14 * 24)]                                                            # 福田区: steady
             + [ep(f"q{i}", "路灯不亮", at=T0 - 8 * hour + i * minute) for i in range(2)])
    search_store.posts.upsert([i.post for i in items])
    search_store.posts.save_enrichments([(i.post, i.enrichment) for i in items])
    seed(search_backend, items)
    window = Window(T0 - timedelta(days=1), T0)

    by_index = trends(search_store, config, window, search=search_backend, save=False)
    by_store = trends(search_store, config, window, save=False)

    assert by_index.spikes_counted_by == search_backend.name and by_store.spikes_counted_by == "store"
    assert by_index.spikes == by_store.spikes
    assert {(s.kind, s.district) for s in by_index.spikes} == {("spike_hour", NANSHAN), ("spike_day", NANSHAN)}
