"""Work orders in the store, on every backend: one live order per lead, the outbox lease,
status updates deduplicated and applied newest-first, the change feed."""
from __future__ import annotations

from datetime import timedelta

import pytest

from core.models import Enrichment, EnrichedPost, Lead, LeadEvent, LeadStatus, PriorityParts
from core.orders import DeliveryState, OrderStatus, Place, StatusUpdate, build_order, order_id_for, same_place
from core.store import ConcurrencyError
from core.store.orders import LiveOrderExists
from tests.conftest import T0, make_post


def _lead(store, lead_id="L00000000000a"):
    post = make_post("1", "科技园路面塌陷，电动车摔倒", likes=3)
    store.posts.upsert([post])
    enrichment = Enrichment(post.id, post.text, True, 0.9, "交通运输", "南山区", "粤海街道", item="JT002",
                            text_hash="h1", community="科技园社区", lat=22.54, lon=113.95, location_precision="place")
    store.posts.save_enrichments([(post, enrichment)])
    lead = Lead(id=lead_id, status=LeadStatus.VERIFIED, title="科技园路面塌陷", category="交通运输", district="南山区",
                street="粤海街道", unit="南山区交通运输局", urgent=True, priority=0.8, priority_parts=PriorityParts(),
                post_count=1, platform_count=1, first_seen=T0, last_seen=T0, item="JT002", resolution_hours=24)
    store.leads.create(lead, [(post.id, 1.0)], LeadEvent(lead_id, "created", "clusterer", T0, {}))
    return lead, [EnrichedPost(post, enrichment)]


def _order(store):
    lead, posts = _lead(store)
    order = build_order(order_id_for(lead.id), lead, posts, target="city12345", actor="ana", now=T0,
                        item_name="路面塌陷")
    return store.orders.create(order, T0)


def test_order_freezes_evidence_and_place(store):
    order = _order(store)
    got = store.orders.get(order.id)
    assert got == order and got.delivery == DeliveryState.PENDING
    assert got.evidence[0].text == "科技园路面塌陷，电动车摔倒" and got.evidence[0].content_hash == got.evidence[0].digest()
    assert got.place == Place("南山区", "粤海街道", "科技园社区", "南山区粤海街道科技园社区", 22.54, 113.95)
    assert got.due_at == T0 + timedelta(hours=24) and got.payload()["evidence_hash"] == got.evidence_hash
    # the post changes later: the order's evidence does not
    store.posts.upsert([make_post("1", "已删除")])
    assert store.orders.get(order.id).evidence[0].text == "科技园路面塌陷，电动车摔倒"


def test_one_live_order_per_lead(store):
    order = _order(store)
    lead = store.leads.get(order.lead_id)
    posts = store.leads.posts(lead.id)
    with pytest.raises(LiveOrderExists):
        store.orders.create(build_order(order_id_for(lead.id, 2), lead, posts, target="x", actor="ana", now=T0), T0)


def test_lease_hands_an_order_to_one_worker_and_expires(store):
    order = _order(store)
    first = store.orders.lease_due(T0, 10, timedelta(seconds=60))
    assert [o.id for o in first] == [order.id]
    assert store.orders.lease_due(T0 + timedelta(seconds=10), 10, timedelta(seconds=60)) == []
    again = store.orders.lease_due(T0 + timedelta(seconds=61), 10, timedelta(seconds=60))  # the first worker died
    assert [o.id for o in again] == [order.id]
    with pytest.raises(ConcurrencyError):  # the first worker wakes up late: its write is refused
        store.orders.delivered(first[0], T0 + timedelta(seconds=62), remote_id="R1")
    store.orders.delivered(again[0], T0 + timedelta(seconds=62), remote_id="R1")
    assert store.orders.get(order.id).delivery == DeliveryState.DELIVERED
    assert store.orders.by_remote("city12345", ["R1"]) == {"R1": order.id}


def test_failed_attempts_back_off_then_die_and_retry_revives(store):
    order = _order(store)
    [leased] = store.orders.lease_due(T0, 10, timedelta(seconds=60))
    store.orders.failed(leased, T0, "503", T0 + timedelta(seconds=30))
    assert store.orders.lease_due(T0 + timedelta(seconds=10), 10, timedelta(seconds=60)) == []
    [leased] = store.orders.lease_due(T0 + timedelta(seconds=31), 10, timedelta(seconds=60))
    store.orders.failed(leased, T0, "gave up", None)
    dead = store.orders.get(order.id)
    assert dead.delivery == DeliveryState.DEAD and dead.attempts == 2 and dead.last_error == "gave up"
    revived = store.orders.retry(order.id, T0 + timedelta(hours=1))
    assert revived.delivery == DeliveryState.PENDING and revived.attempts == 0


def test_updates_are_deduplicated_and_never_go_back_in_time(store):
    order = _order(store)
    accepted = StatusUpdate(order.id, OrderStatus.ACCEPTED, T0 + timedelta(minutes=5), "u1", "webhook")
    resolved = StatusUpdate(order.id, OrderStatus.RESOLVED, T0 + timedelta(minutes=50), "u3", "webhook")
    progress = StatusUpdate(order.id, OrderStatus.IN_PROGRESS, T0 + timedelta(minutes=20), "u2", "webhook")
    assert store.orders.record_update(accepted)[0]
    assert store.orders.record_update(resolved)[0]
    applied, after = store.orders.record_update(progress)  # arrives late
    assert not applied and after.status == OrderStatus.RESOLVED
    assert not store.orders.record_update(resolved)[0]  # sent twice
    assert [u.update_id for u in store.orders.updates(order.id)] == ["u1", "u2", "u3"]
    assert store.orders.get(order.id).delivery == DeliveryState.DELIVERED  # an answer proves arrival


def test_change_feed_is_monotonic_and_names_each_order_once(store):
    order = _order(store)
    cursor, orders = store.orders.changes(0, 100)
    assert [o.id for o in orders] == [order.id] and cursor > 0
    assert store.orders.changes(cursor, 100) == (cursor, [])
    store.orders.record_update(StatusUpdate(order.id, OrderStatus.ACCEPTED, T0, "u1", "pull"))
    store.orders.record_update(StatusUpdate(order.id, OrderStatus.IN_PROGRESS, T0 + timedelta(minutes=1), "u2", "pull"))
    later, orders = store.orders.changes(cursor, 100)
    assert later > cursor and [o.status for o in orders] == [OrderStatus.IN_PROGRESS]


def test_same_place_links_only_close_orders(store):
    order = _order(store)
    assert same_place(order, Place("南山区", "粤海街道", None, None, 22.5405, 113.9502))
    assert not same_place(order, Place("南山区", "粤海街道", None, None, 22.56, 113.95))
    assert store.orders.open_for_item("JT002", "南山区")[0].id == order.id
