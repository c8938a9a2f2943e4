"""Place identity in clustering: a long-running problem at one estate stays one lead across
months; different buildings of one estate stay apart (issue 13, parts 1 and 2)."""
from __future__ import annotations

import hashlib
from datetime import timedelta

from clustering.stage import cluster
from core.models import Enrichment, LeadStatus, Window
from tests.conftest import T0, make_post

DAY = timedelta(days=1)


def add(store, native_id, text, *, day, key=None, detail=(), category="生态环境", district="A5区"):
    post = make_post(native_id, text, at=T0 + day * DAY)
    store.posts.upsert([post])
    store.posts.save_enrichments([(post, Enrichment(
        post.id, text, True, 0.9, category, district, None, text_hash=hashlib.sha1(text.encode()).hexdigest(),
        place_name=key, place_key=key, place_detail=detail))])
    return post.id


def run_days(store, config, first, last):
    for d in range(first, last + 1):
        cluster(store, config, Window(T0 + d * DAY - DAY / 2, T0 + d * DAY + DAY / 2))


def leads_of(store, post_ids):
    of = store.leads.of_posts(post_ids)
    return {of.get(p) for p in post_ids}


PLANT = ["魅力之城小区旁边的搅拌站粉尘太大，窗户都不敢开", "魅力之城附近搅拌站灰尘很大，噪音也大，晚上睡不着",
         "搅拌站就在魅力之城小区边上，天天粉尘噪音扰民", "魅力之城小区业主再次投诉搅拌站粉尘污染",
         "魅力之城旁搅拌站半夜还在作业，粉尘噪音严重", "强烈要求搬迁魅力之城小区旁的搅拌站，粉尘太大"]


def test_a_problem_reported_for_months_at_one_estate_is_one_lead(store, config):
    # Posts ten days apart: further apart than the 7-day window, yet the lead stays open (it
    # closes after 14 quiet days), so each finds it by the estate it names.
    ids = [add(store, f"m{i}", text, day=10 * i, key="魅力之城") for i, text in enumerate(PLANT)]
    run_days(store, config, 0, 10 * (len(PLANT) - 1))
    [lead_id] = leads_of(store, ids)
    lead = store.leads.get(lead_id)
    assert lead.post_count == len(PLANT)
    assert (lead.last_seen - lead.first_seen) >= timedelta(days=50)


def test_without_a_shared_place_the_time_window_still_bounds_a_lead(store, config):
    ids = [add(store, f"m{i}", text, day=10 * i) for i, text in enumerate(PLANT[:4])]
    run_days(store, config, 0, 30)
    assert len(leads_of(store, ids) - {None}) <= 2  # pairs at most: nothing ties the months together
    assert None in leads_of(store, ids) or len(leads_of(store, ids)) > 1


def test_different_buildings_of_one_estate_stay_apart(store, config):
    lift3 = [add(store, f"a{i}", f"伊景园滨河苑3栋电梯又坏了，困人{i}次", day=0, key="伊景园滨河苑",
                 detail=(("building", "3栋"),), category="城乡建设") for i in range(3)]
    lift5 = [add(store, f"b{i}", f"伊景园滨河苑5栋电梯又坏了，困人{i}次", day=0, key="伊景园滨河苑",
                 detail=(("building", "5栋"),), category="城乡建设") for i in range(3)]
    vague = add(store, "c0", "伊景园滨河苑的电梯又坏了，困人好几次", day=0, key="伊景园滨河苑", category="城乡建设")
    run_days(store, config, 0, 0)
    three, five = leads_of(store, lift3), leads_of(store, lift5)
    assert len(three) == 1 and len(five) == 1 and three != five and None not in three | five
    assert store.leads.of_posts([vague]).get(vague) in three | five  # no detail: may join either


LETTER = ("各位领导干部大家好，我是A市{}的一名学生，临近毕业，学校开始组织学生参加实习，当然学生是必须实习，"
          "但是学生应该有自己的选择权，学校要求学生必须去学校安排的几个点实习，并且学生工资500元。希望得到帮助")


def test_one_letter_sent_about_two_places_is_not_forced_into_one_lead(store, config):
    # Real messages (teddy2020 233759 and 255719): the same letter, only the college's name
    # swapped. Near-duplicates are linked outright, but not across two named places: there the
    # place rule (different_place_factor) decides, as for any two posts, and here it keeps the
    # colleges apart while each college's copies stay one lead.
    import dataclasses
    clustering = config.radar.clustering.model_copy(update={"different_place_factor": 0.1})
    config = dataclasses.replace(config, radar=config.radar.model_copy(update={"clustering": clustering}))
    college = [add(store, f"j{i}", LETTER.format("涉外经济学院") + "！" * i, day=0, key="涉外经济学院",
                   category="教育文体") for i in range(2)]
    other = add(store, "s0", LETTER.format("商贸旅游职业技术学院"), day=0, key="商贸旅游职业技术学院",
                category="教育文体")
    run_days(store, config, 0, 0)
    [lead] = leads_of(store, college)
    assert lead is not None and store.leads.of_posts([other]).get(other) != lead


def test_posts_naming_two_buildings_do_not_both_join_a_lead_naming_none(store, config):
    # Each fits the vague lead on its own; together they would put 3栋 and 5栋 in one lead.
    vague = [add(store, f"v{i}", f"伊景园滨河苑外墙墙皮一块块往下掉，砸到车了{i}", day=0, key="伊景园滨河苑",
                 category="城乡建设") for i in range(3)]
    run_days(store, config, 0, 0)
    three = [add(store, f"a{i}", f"伊景园滨河苑3栋外墙墙皮一块块往下掉，砸到车了{i}", day=1, key="伊景园滨河苑",
                 detail=(("building", "3栋"),), category="城乡建设") for i in range(2)]
    five = [add(store, f"b{i}", f"伊景园滨河苑5栋外墙墙皮一块块往下掉，砸到车了{i}", day=1, key="伊景园滨河苑",
                detail=(("building", "5栋"),), category="城乡建设") for i in range(2)]
    run_days(store, config, 1, 1)
    [lead] = leads_of(store, vague)
    assert leads_of(store, three).isdisjoint(leads_of(store, five))
    assert lead in leads_of(store, three) | leads_of(store, five)  # one of them is its next wave


def test_a_later_post_naming_another_building_starts_its_own_lead(store, config):
    first = [add(store, f"a{i}", f"伊景园滨河苑3栋电梯坏了{i}天没人修", day=0, key="伊景园滨河苑",
                 detail=(("building", "3栋"),), category="城乡建设") for i in range(2)]
    run_days(store, config, 0, 0)
    later = [add(store, f"b{i}", f"伊景园滨河苑5栋电梯坏了{i}天没人修", day=9, key="伊景园滨河苑",
                 detail=(("building", "5栋"),), category="城乡建设") for i in range(2)]
    run_days(store, config, 9, 9)
    assert leads_of(store, first).isdisjoint(leads_of(store, later))


def test_a_closed_lead_far_in_the_past_is_not_reopened_by_its_place(store, config):
    old = [add(store, f"o{i}", text, day=i, key="魅力之城") for i, text in enumerate(PLANT[:2])]
    run_days(store, config, 0, 1)
    run_days(store, config, 40, 40)  # quiet for 14 days: closed
    [old_lead] = leads_of(store, old)
    assert store.leads.get(old_lead).status == LeadStatus.CLOSED
    new = [add(store, f"n{i}", text, day=100 + i, key="魅力之城") for i, text in enumerate(PLANT[2:4])]
    run_days(store, config, 100, 101)
    assert old_lead not in leads_of(store, new)


def test_the_spot_survives_the_store(store):
    pid = add(store, "s1", "伊景园滨河苑3栋", day=0, key="伊景园滨河苑", detail=(("building", "3栋"),))
    [ep] = store.posts.enriched([pid])
    assert ep.enrichment.place_key == "伊景园滨河苑" and ep.enrichment.place_detail == (("building", "3栋"),)


def test_a_problem_back_after_its_lead_closed_long_ago_links_to_it(store, config):
    old = [add(store, f"o{i}", text, day=i, key="魅力之城") for i, text in enumerate(PLANT[:3])]
    run_days(store, config, 0, 2)
    run_days(store, config, 40, 40)
    [old_lead] = leads_of(store, old)
    new = [add(store, f"n{i}", text, day=100, key="魅力之城") for i, text in enumerate(PLANT[3:])]
    run_days(store, config, 100, 100)
    [new_lead] = leads_of(store, new)
    assert new_lead != old_lead
    created = store.leads.events(new_lead)[0]
    assert created.kind == "created" and created.detail["recurrence_of"] == old_lead


def test_a_recurrence_is_checked_against_the_latest_closed_leads_at_its_place(store, config):
    # Three waves of one problem, each closed before the next: with room for one candidate,
    # the third links to the second, which links to the first; the store hands out only the
    # most recently seen closed lead at the place, however many have piled up there.
    import dataclasses
    clustering = config.radar.clustering.model_copy(update={"recurrence_candidates": 1})
    config = dataclasses.replace(config, radar=config.radar.model_copy(update={"clustering": clustering}))
    waves = []
    for start, texts in ((0, PLANT[:2]), (100, PLANT[2:4]), (200, PLANT[4:])):
        waves.append([add(store, f"w{start}-{i}", text, day=start + i, key="魅力之城") for i, text in enumerate(texts)])
        run_days(store, config, start, start + 1)
        run_days(store, config, start + 40, start + 40)
    (first,), (second,), (third,) = (leads_of(store, ids) for ids in waves)
    assert len({first, second, third}) == 3
    assert store.leads.events(second)[0].detail["recurrence_of"] == first
    assert store.leads.events(third)[0].detail["recurrence_of"] == second
    closed = store.leads.anchors_at(["魅力之城"], statuses=[LeadStatus.CLOSED])
    assert {lead.id for lead, _ in closed} == {first, second, third}
    latest = store.leads.anchors_at(["魅力之城", "别处"], statuses=[LeadStatus.CLOSED], latest=2)
    assert [lead.id for lead, _ in sorted(latest, key=lambda pair: pair[0].last_seen)] == [second, third]


def test_waves_split_on_quiet_gaps():
    from datetime import datetime, timezone
    from core.waves import waves
    at = [datetime(2026, 1, d, tzinfo=timezone.utc) for d in (1, 2, 3, 28, 29)]
    got = waves(reversed(at), timedelta(days=14))
    assert [(w.start.day, w.end.day, w.posts) for w in got] == [(1, 3, 3), (28, 29, 2)]
    assert waves([], timedelta(days=1)) == []
