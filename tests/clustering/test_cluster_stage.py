"""The cluster stage on a real store: grouping, stable ids, merges recorded, idempotence."""
from __future__ import annotations

import hashlib
from datetime import timedelta

import pytest

from clustering.stage import cluster
from core.models import Enrichment, LeadStatus, Window
from tests.conftest import T0, make_post

WINDOW = Window(T0 - timedelta(days=30), T0 + timedelta(days=2))


def add(store, native_id, text, *, district="南山区", category="交通运输", hours=0, relevant=True,
        platform="weibo", reposted_id=None):
    post = make_post(native_id, text, at=T0 + timedelta(hours=hours), platform=platform, reposted_id=reposted_id)
    store.posts.upsert([post])
    store.posts.save_enrichments([(post, Enrichment(
        post.id, text, relevant, 0.9 if relevant else 0.1, category, district, None,
        text_hash=hashlib.sha1(text.encode()).hexdigest()))])
    return post.id


POTHOLE = ["南山区粤海街道深南大道辅道有个大坑，电动车摔了好几次，希望尽快修",
           "深南大道辅道粤海街道这段路面一个大坑，昨晚又有电动车摔倒",
           "粤海街道深南大道辅道的大坑还没修，电动车经过很危险"]
NOISE = ["南山区桃源村工地半夜施工噪音扰民，吵得睡不着",
         "桃源村旁边工地晚上十二点还在施工，噪音太大了"]


def lead_of(store, post_id):
    for lead in store.leads.list(limit=200)[1]:
        if post_id in store.leads.member_ids([lead.id])[lead.id]:
            return lead.id
    return None


def test_paraphrases_form_one_lead_and_different_problems_stay_apart(store, config):
    pids = [add(store, f"p{i}", t, hours=i) for i, t in enumerate(POTHOLE)]
    nids = [add(store, f"n{i}", t, category="生态环境", hours=i) for i, t in enumerate(NOISE)]
    add(store, "x1", "今天天气真好，去海岸城吃饭", relevant=False)
    add(store, "s1", "福田区华强北有商家预付卡跑路，几百人没退费", district="福田区", category="市场监管")
    counts = cluster(store, config, WINDOW)
    assert counts["leads_created"] == 2
    assert len({lead_of(store, p) for p in pids}) == 1
    assert len({lead_of(store, n) for n in nids}) == 1
    assert lead_of(store, pids[0]) != lead_of(store, nids[0])
    assert lead_of(store, "weibo:x1") is None and lead_of(store, "weibo:s1") is None


def test_second_run_is_idempotent(store, config):
    for i, t in enumerate(POTHOLE):
        add(store, f"p{i}", t, hours=i)
    cluster(store, config, WINDOW)
    before = [(l.id, l.version, l.post_count) for l in store.leads.list()[1]]
    counts = cluster(store, config, WINDOW)
    assert counts["leads_created"] == counts["leads_updated"] == 0
    assert [(l.id, l.version, l.post_count) for l in store.leads.list()[1]] == before


def test_new_posts_join_the_existing_lead_and_keep_its_id(store, config):
    add(store, "p0", POTHOLE[0])
    add(store, "p1", POTHOLE[1], hours=1)
    cluster(store, config, WINDOW)
    [lead] = store.leads.list()[1]
    add(store, "p2", POTHOLE[2], hours=30, platform="szrss")
    add(store, "r1", "转发", hours=31, reposted_id="weibo:p0")
    counts = cluster(store, config, WINDOW)
    assert counts["leads_created"] == 0 and counts["posts_assigned"] == 2
    [after] = store.leads.list()[1]
    assert after.id == lead.id and after.post_count == 4 and after.platform_count == 2
    assert after.version == lead.version + 1
    assert [e.kind for e in store.leads.events(lead.id)] == ["created", "posts_added"]


def test_a_bridging_post_merges_leads_and_the_older_id_survives(store, config):
    add(store, "a0", "宝安区西乡街道宝安大道路灯不亮，晚上一片漆黑", district="宝安区", category="城市管理")
    add(store, "a1", "西乡街道宝安大道路灯坏了一排，晚上一片漆黑", district="宝安区", category="城市管理", hours=1)
    add(store, "b0", "宝安区西乡街道固戍地铁站附近路灯不亮，走路害怕", district="宝安区", category="城市管理", hours=2)
    add(store, "b1", "固戍地铁站附近路灯全坏了，晚上走路害怕", district="宝安区", category="城市管理", hours=3)
    cluster(store, config, WINDOW)
    leads = {l.id for l in store.leads.list()[1]}
    if len(leads) == 1:  # the texts were similar enough to be one problem from the start
        return
    older = lead_of(store, "weibo:a0")
    younger = lead_of(store, "weibo:b0")
    bridge = "宝安区西乡街道宝安大道到固戍地铁站一路路灯不亮，晚上一片漆黑，走路害怕"
    add(store, "c0", bridge, district="宝安区", category="城市管理", hours=4)
    counts = cluster(store, config, WINDOW)
    assert counts["leads_merged"] == 1
    merged = store.leads.get(younger)
    assert merged.status == LeadStatus.MERGED and merged.merged_into == older
    assert {lead_of(store, f"weibo:{p}") for p in ("a0", "b1", "c0")} == {older}
    assert store.leads.events(younger)[-1].kind == "merged"
    assert store.leads.events(older)[-1].detail["merged_from"] == [younger]


def test_posts_far_apart_in_time_are_separate_occurrences(store, config):
    add(store, "p0", POTHOLE[0])
    add(store, "p1", POTHOLE[1], hours=1)
    add(store, "q0", POTHOLE[2], hours=24 * 20)
    cluster(store, config, Window(T0 - timedelta(days=1), T0 + timedelta(days=21)))
    assert lead_of(store, "weibo:q0") is None


def test_priority_parts_are_stored_and_rank(store, config):
    for i, t in enumerate(POTHOLE):
        add(store, f"p{i}", t, hours=i, platform=["weibo", "szrss", "jiazaishenzhen"][i])
    add(store, "n0", NOISE[0], category="生态环境")
    add(store, "n1", NOISE[1], category="生态环境", hours=1)
    cluster(store, config, WINDOW)
    top, second = store.leads.list()[1]
    assert top.post_count == 3 and top.priority_parts.spread == round(2 / 3, 6)
    assert top.priority > second.priority
    # nothing was posted in the day before the window end: not hot, and it never came back
    assert top.priority_parts.velocity == 0 and top.priority_parts.recurrence == 0
    assert "大坑" in top.keywords and any("噪音" in k for k in second.keywords)


def test_a_quiet_lead_closes_and_reopens_when_the_problem_comes_back(store, config):
    add(store, "p0", POTHOLE[0])
    add(store, "p1", POTHOLE[1], hours=1)
    cluster(store, config, WINDOW)
    [lead] = store.leads.list()[1]
    later = Window(T0, T0 + timedelta(days=20))
    counts = cluster(store, config, later)
    assert counts["leads_closed"] == 1 and store.leads.get(lead.id).status == LeadStatus.CLOSED
    add(store, "p2", POTHOLE[2], hours=24 * 25)
    counts = cluster(store, config, Window(T0, T0 + timedelta(days=26)))
    assert counts["leads_reopened"] == 1
    reopened = store.leads.get(lead.id)
    assert reopened.status == LeadStatus.NEW and reopened.post_count == 3
    assert reopened.priority_parts.recurrence == round(1 / 3, 6)
    assert reopened.priority_parts.velocity > 0  # its only recent post is new activity
    assert [e.kind for e in store.leads.events(lead.id)][-2:] == ["closed", "reopened"]


def test_a_lead_grown_run_by_run_has_the_fields_of_one_built_from_all_its_posts(store, config):
    """Leads grow from a SQL tally of their members, never by reading them all back: the
    tally must agree with the members themselves, post by post."""
    from clustering.leads import build_lead, tally_of
    texts = POTHOLE * 4
    platforms = ["weibo", "szrss", "jiazaishenzhen"]
    for i, text in enumerate(texts):
        post = make_post(f"g{i}", text, at=T0 + timedelta(hours=3 * i), platform=platforms[i % 3], likes=i)
        store.posts.upsert([post])
        store.posts.save_enrichments([(post, Enrichment(
            post.id, text, True, 0.9, None if i % 4 == 0 else "交通运输", "南山区", "粤海街道" if i % 3 else None,
            urgent=(i == 7), text_hash=hashlib.sha1(f"{text}{i}".encode()).hexdigest()))])
        cluster(store, config, Window(T0 - timedelta(days=1), T0 + timedelta(hours=3 * i + 1)))
    [lead] = store.leads.list()[1]
    members = store.leads.posts(lead.id)
    assert len(members) == lead.post_count == len(texts)
    end = T0 + timedelta(hours=3 * (len(texts) - 1) + 1)
    tally = store.leads.tallies([lead.id], end - timedelta(days=1))[lead.id]
    assert tally == tally_of(members, end)
    assert tally.engagement == sum(range(len(texts))) and tally.urgent and len(tally.platforms) == 3
    assert tally.categories == {"交通运输": 9} and tally.streets == {("南山区", "粤海街道"): 8}
    [(_, profile)] = store.leads.anchors(T0 - timedelta(days=30), T0 - timedelta(days=30))
    assert profile.tally == tally  # grown run by run, it agrees with the members summed in SQL
    assert profile.representative in {m.id for m in members}
    whole = build_lead(lead.id, tally_of(members, end), members[0], end, config.radar.priority, lead)
    assert (lead.district, lead.street, lead.category, lead.urgent, lead.platform_count, lead.first_seen,
            lead.last_seen, lead.priority_parts) == (whole.district, whole.street, whole.category, whole.urgent,
                                                     whole.platform_count, whole.first_seen, whole.last_seen,
                                                     whole.priority_parts)
    edges = store.leads.edge_ids([lead.id], 2)[lead.id]
    assert edges == [m.id for m in members[:2] + members[-2:]]


def test_hdbscan_as_the_residual_clusterer_groups_paraphrases_and_leaves_others_apart(store, config):
    import dataclasses
    clustering = config.radar.clustering.model_copy(update={"algorithm": "hdbscan"})
    config = dataclasses.replace(config, radar=config.radar.model_copy(update={"clustering": clustering}))
    pids = [add(store, f"p{i}", t, hours=i) for i, t in enumerate(POTHOLE)]
    nids = [add(store, f"n{i}", t, category="生态环境", hours=i) for i, t in enumerate(NOISE)]
    cluster(store, config, WINDOW)
    assert len({lead_of(store, p) for p in pids}) == 1 and len({lead_of(store, n) for n in nids}) == 1
    assert lead_of(store, pids[0]) != lead_of(store, nids[0]) and lead_of(store, pids[0]) is not None


def test_a_corrupt_profile_is_rebuilt_from_the_members_and_loses_no_post(store, config):
    from sqlalchemy import update

    from core.store import tables
    add(store, "p0", POTHOLE[0])
    add(store, "p1", POTHOLE[1], hours=1)
    cluster(store, config, WINDOW)
    [lead] = store.leads.list()[1]
    with store.engine.begin() as conn:
        conn.execute(update(tables.lead_profiles).values(tally={"posts": "many"}, embedding=b"\x00\x01\x02"))
    add(store, "p2", POTHOLE[2], hours=2)
    counts = cluster(store, config, WINDOW)
    assert counts["posts_assigned"] == 1
    after = store.leads.get(lead.id)
    assert after.post_count == 3 and len(store.leads.posts(lead.id)) == 3
    [(_, profile)] = store.leads.anchors(T0 - timedelta(days=30), T0 - timedelta(days=30))
    assert profile.tally.posts == 3 and profile.embedding is not None


def test_a_missing_embedding_model_fails_clearly_and_writes_nothing(store, config, monkeypatch):
    from clustering.embeddings import EmbeddingModelMissing
    monkeypatch.setenv("RADAR_EMBEDDING_MODEL", "/nonexistent/model")
    for i, t in enumerate(POTHOLE):
        add(store, f"p{i}", t, hours=i)
    with pytest.raises(EmbeddingModelMissing, match="/nonexistent/model"):
        cluster(store, config, WINDOW)
    assert store.leads.list()[0] == 0
    assert len(store.posts.unassigned_relevant(WINDOW)) == len(POTHOLE)
