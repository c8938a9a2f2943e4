"""Clustering runs between analyst actions: the clusterer keeps growing leads under triage but
never undoes a merge, a split or a rejection, and never moves a post an analyst placed."""
from __future__ import annotations

from datetime import timedelta

from clustering.stage import cluster
from core.models import LeadStatus
from core.triage import Actor, Correction, Role
from leads_api.desk import Desk
from tests.clustering.test_cluster_stage import NOISE, POTHOLE, WINDOW, add, lead_of

ANA = Actor("ana", Role.ANALYST, ("南山区",))
MORE_POTHOLE = ["深南大道辅道粤海街道那个大坑还在，今天又有人摔倒了",
                "粤海街道深南大道辅道路面大坑，电动车摔倒，赶紧修吧",
                "深南大道辅道（粤海街道段）大坑至今没人修，电动车天天摔",
                "南山区深南大道辅道粤海街道大坑害人，又摔了一个"]


def _pothole_lead(store, config) -> str:
    pids = [add(store, f"p{i}", t, hours=i) for i, t in enumerate(POTHOLE)]
    cluster(store, config, WINDOW)
    return lead_of(store, pids[0])


def test_merge_survives_later_runs(store, config):
    pothole = _pothole_lead(store, config)
    nids = [add(store, f"n{i}", t, category="生态环境", hours=i) for i, t in enumerate(NOISE)]
    cluster(store, config, WINDOW)
    noise = lead_of(store, nids[0])
    desk = Desk(store, config)
    kept = desk.merge(ANA, pothole, None, noise, None, note="同一处施工")
    gone_id = noise if kept.id == pothole else pothole
    add(store, "n9", "桃源村工地今晚又施工到半夜，噪音吵死人", category="生态环境", hours=5)
    add(store, "p9", MORE_POTHOLE[0], hours=6)
    cluster(store, config, WINDOW)
    assert store.leads.get(gone_id).status == LeadStatus.MERGED
    assert store.leads.member_ids([gone_id])[gone_id] == []
    members = set(store.leads.member_ids([kept.id])[kept.id])
    assert set(nids) | {f"weibo:p{i}" for i in range(3)} <= members


def test_split_is_never_merged_back_and_placed_posts_stay(store, config):
    pothole = _pothole_lead(store, config)
    desk = Desk(store, config)
    _, new = desk.split(ANA, pothole, None, ["weibo:p2"], note="另一个坑")
    for i, text in enumerate(MORE_POTHOLE):  # paraphrases close to both halves
        add(store, f"m{i}", text, hours=10 + i)
    cluster(store, config, WINDOW)
    for lead_id in (pothole, new.id):
        assert store.leads.get(lead_id).status != LeadStatus.MERGED
    assert "weibo:p2" in store.leads.member_ids([new.id])[new.id]
    assert "weibo:p2" not in store.leads.member_ids([pothole])[pothole]
    placed = store.triage.placed_posts(["weibo:p2"])
    assert placed == {"weibo:p2"}
    merged_events = [e for lid in (pothole, new.id) for e in store.leads.events(lid) if e.kind == "merged"]
    assert merged_events == []


def test_rejection_holds_until_substantially_new_posts_bring_it_back(store, config):
    pothole = _pothole_lead(store, config)
    desk = Desk(store, config)
    desk.act(ANA, pothole, None, "reject", reason="already_handled")
    add(store, "m0", MORE_POTHOLE[0], hours=10)
    cluster(store, config, WINDOW)
    lead = store.leads.get(pothole)
    assert lead.status == LeadStatus.REJECTED and lead.post_count == 4  # it grew, it stayed rejected
    for i, text in enumerate(MORE_POTHOLE[1:], start=1):
        add(store, f"m{i}", text, hours=10 + i)
    counts = cluster(store, config, WINDOW)
    lead = store.leads.get(pothole)
    assert counts["leads_returned"] == 1
    assert lead.status == LeadStatus.NEW and "驳回" in lead.review_reason and lead.post_count == 7
    assert lead.sla_due_at is not None
    assert store.leads.events(pothole)[-1].kind == "returned_to_review"


def test_verified_lead_keeps_the_analysts_fields_as_it_grows(store, config):
    pothole = _pothole_lead(store, config)
    created = store.leads.get(pothole)
    assert created.detected_at is not None and created.sla_due_at is not None  # the clock started
    desk = Desk(store, config)
    desk.act(ANA, pothole, None, "claim")
    desk.act(ANA, pothole, None, "verify", correction=Correction(category="城市管理", item="CG001", unit="粤海街道办事处"))
    before = store.leads.get(pothole)
    add(store, "m0", MORE_POTHOLE[0], hours=10)
    cluster(store, config, WINDOW)
    after = store.leads.get(pothole)
    assert after.post_count == before.post_count + 1
    assert (after.status, after.category, after.unit, after.sla_due_at) == (
        LeadStatus.VERIFIED, "城市管理", "粤海街道办事处", before.sla_due_at)
    assert [e.kind for e in store.leads.events(pothole)][-1] == "posts_added"


def test_new_lead_sla_clock_follows_its_item(store, config):
    ids = [add(store, f"u{i}", t, hours=i) for i, t in enumerate(POTHOLE)]
    cluster(store, config, WINDOW)
    lead = store.leads.get(lead_of(store, ids[0]))
    minutes = (lead.sla_due_at - lead.detected_at) / timedelta(minutes=1)
    assert minutes in (30, 120)  # urgent or general, from the implementation list


def test_a_resolved_problem_still_reported_comes_back_to_an_analyst(store, config):
    from core.orders import OrderStatus, StatusUpdate
    from delivery import lifecycle
    pothole = _pothole_lead(store, config)
    desk = Desk(store, config)
    desk.act(ANA, pothole, None, "verify", correction=Correction(unit="南山区交通运输局"))
    _, order = desk.dispatch(ANA, pothole, None)
    lifecycle.apply(store, StatusUpdate(order.id, OrderStatus.RESOLVED, WINDOW.end - timedelta(days=1), "u1",
                                        "webhook"))
    add(store, "m0", MORE_POTHOLE[0], hours=30)
    counts = cluster(store, config, WINDOW)
    lead = store.leads.get(pothole)
    assert counts["leads_still_reported"] == 1
    assert lead.status == LeadStatus.DISPATCHED and lead.review_reason.startswith("已办结但仍有人反映")
    assert store.leads.events(pothole)[-1].kind == "reported_after_resolution"
    # the analyst sends it again (不满意重办): the same order, a second send
    _, again = desk.resend(ANA, pothole, None, "南山区交通运输局")
    assert again.id == order.id and again.sends == 2 and store.leads.get(pothole).review_reason is None
