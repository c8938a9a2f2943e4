"""Learning from the desk (issue 13, part 4): an analyst's re-categorization, made through the
Desk on a real SQLite store, changes the next category model's answer and that model is promoted
on a fixed eval set; a worse candidate is refused; the registry survives a reload and its
`current` pointer is replaced atomically. Synthetic but realistic Chinese text: no shared data."""
from __future__ import annotations

import itertools
import json
from datetime import timedelta

import pytest

from core.models import Enrichment, Lead, LeadEvent, LeadStatus, PriorityParts
from core.triage import Actor, Correction, Role
from enrichment import learning
from enrichment.learning import Registry, current_version, evaluate, promote_if_better, train_candidate
from leads_api.desk import Desk
from tests.conftest import T0, make_post

ROAD, ENV, CITY = "交通运输", "生态环境", "城市管理"
PLACES = ["阳光花园小区", "翠湖苑", "桃源村", "西丽湖小区", "海月花园", "荔林小区", "白石洲", "梅林一村",
          "华侨城社区", "蛇口新村", "丽水佳园", "南油小区"]
PHRASES = {
    ROAD: ["路面坑洼不平，车辆经过很危险", "马路上井盖缺失，晚上差点掉进去", "红绿灯坏了好几天没人修",
           "人行道砖块松动破损，老人容易摔倒", "路口交通拥堵严重，早高峰堵车一小时"],
    ENV: ["工地夜间施工噪音太大，半夜还在打桩", "工厂排放黑烟，空气里一股刺鼻气味", "河道污水直排，水面发黑发臭",
          "搅拌站粉尘很大，窗户一天就落满灰", "餐馆油烟直排，楼上住户没法开窗"],
    CITY: ["路边占道经营，小摊贩把人行道堵死了", "楼道里贴满小广告，墙面一片狼藉", "有人在楼顶私搭乱建违章建筑",
           "绿化带树木被砍，草坪被踩成了泥地", "户外广告牌歪斜松动，大风天很危险"],
}
# What the model was taught before the desk: overflowing bins filed as pollution (生态环境).
GARBAGE = ["小区门口垃圾桶满了没人清运", "垃圾堆在路边好几天没人清理，臭气熏天", "楼下垃圾箱满溢，垃圾撒了一地",
           "垃圾站的垃圾好几天没运走，苍蝇乱飞", "小区垃圾没人收，堆成了小山"]
NEW_GARBAGE = "我们小区楼下的垃圾桶满了好几天了，一直没人来清运"


def _texts(place_ids, phrases) -> list[str]:
    return [f"{PLACES[p]}{phrase}" for p, phrase in itertools.product(place_ids, phrases)]


def base_set(garbage_label: str = ENV) -> tuple[list[str], list[str]]:
    texts, labels = [], []
    for category, phrases in PHRASES.items():
        t = _texts(range(0, 6), phrases)
        texts += t
        labels += [category] * len(t)
    g = _texts(range(0, 3), GARBAGE)
    return texts + g, labels + [garbage_label] * len(g)


def eval_set() -> tuple[list[str], list[str]]:
    """The fixed eval set, reflecting the analysts' truth: bins that are not emptied are 城市管理."""
    texts, labels = [], []
    for category, phrases in PHRASES.items():
        t = _texts(range(8, 12), phrases)
        texts += t
        labels += [category] * len(t)
    g = _texts(range(8, 12), GARBAGE)
    return texts + g, labels + [CITY] * len(g)


GARBAGE_LEADS = ("L0000000000g1", "L0000000000g2", "L0000000000g3")


def _seed_garbage_leads(store) -> None:
    """Three leads the model filed as 生态环境, each of posts about bins nobody empties."""
    n = 0
    for i, lead_id in enumerate(GARBAGE_LEADS):
        members = []
        place = PLACES[3 + i]  # estates the base set knows, for other problems
        for k, phrase in enumerate(GARBAGE[i:i + 3]):
            n += 1
            post = make_post(f"g{n}", f"{place}{phrase}", at=T0 + timedelta(minutes=k))
            store.posts.upsert([post])
            store.posts.save_enrichments([(post, Enrichment(post.id, post.text, True, 0.9, ENV, "南山区", None,
                                                            item="ST001", text_hash=f"g{n}"))])
            members.append((post.id, 1.0))
        lead = Lead(id=lead_id, status=LeadStatus.NEW, title=f"{place}垃圾没人清运", category=ENV, district="南山区",
                    street=None, unit="区生态环境局", urgent=False, priority=0.5, priority_parts=PriorityParts(),
                    post_count=len(members), platform_count=1, first_seen=T0, last_seen=T0 + timedelta(minutes=3),
                    item="ST001", detected_at=T0, sla_due_at=T0 + timedelta(minutes=120))
        store.leads.create(lead, members, LeadEvent(lead_id, "created", "clusterer", T0, {}))


@pytest.fixture
def desk_labels(sqlite_store, config):
    """The analyst's corrections, made through the Desk and read back as the store's labels."""
    categories = {c.name for c in config.catalogue.categories}
    assert {ROAD, ENV, CITY} <= categories
    _seed_garbage_leads(sqlite_store)
    desk = Desk(sqlite_store, config)
    ana = Actor("ana", Role.ANALYST, ("南山区",))
    for lead_id in GARBAGE_LEADS:
        desk.act(ana, lead_id, 1, "recategorize", correction=Correction(category=CITY, item="CG001"),
                 now=T0 + timedelta(hours=1))
    labels = sqlite_store.triage.labels(T0)
    assert [l.action for l in labels] == ["recategorize"] * 3
    assert all(l.model["category"] == ENV and l.decision["category"] == CITY for l in labels)
    return labels


def _answer(model, text: str) -> str:
    return model.predict([text])[0][0]


def test_an_analysts_correction_changes_the_next_model_and_it_is_promoted(tmp_path, desk_labels):
    registry = Registry(tmp_path / "models" / "category")
    texts, labels = base_set()
    ev_texts, ev_labels = eval_set()
    first = promote_if_better(registry, train_candidate(texts, labels, [], calibrate=False), ev_texts, ev_labels)
    assert first.promoted and first.candidate == "v0001" and first.reason == "no current model"
    v1 = registry.load()
    assert _answer(v1, NEW_GARBAGE) == ENV

    candidate = train_candidate(texts, labels, desk_labels, calibrate=False)
    assert candidate.sources["desk_category_leads"] == 3 and candidate.sources["desk_labels"] == 3
    assert candidate.sources["desk_category_examples"] == 12  # title and three posts of each lead
    assert _answer(candidate.model, NEW_GARBAGE) == CITY  # the analyst's correction changed the answer

    decision = promote_if_better(registry, candidate, ev_texts, ev_labels)
    assert decision.promoted and decision.candidate == "v0002" and decision.previous == "v0001"
    assert decision.scores.accuracy > decision.current_scores.accuracy
    assert registry.current() == current_version(registry.root) == "v0002"
    assert _answer(registry.load(), NEW_GARBAGE) == CITY
    info = registry.info("v0002")
    assert info["status"] == "promoted" and info["parent"] == "v0001" and info["desk_category_leads"] == 3
    assert info["eval"]["accuracy"] == decision.scores.accuracy
    assert info["eval"]["current_accuracy"] == decision.current_scores.accuracy


def test_a_worse_model_is_refused_and_current_stays(tmp_path, desk_labels):
    registry = Registry(tmp_path / "reg")
    texts, labels = base_set()
    ev_texts, ev_labels = eval_set()
    promote_if_better(registry, train_candidate(texts, labels, desk_labels, calibrate=False), ev_texts, ev_labels)
    assert registry.current() == "v0001"
    good = evaluate(registry.load(), ev_texts, ev_labels)

    # corrupted labels: the road and the vendor texts swapped, as a broken import would
    swap = {ROAD: CITY, CITY: ROAD}
    corrupted = [swap.get(l, l) for l in labels]
    decision = promote_if_better(registry, train_candidate(texts, corrupted, desk_labels, calibrate=False),
                                 ev_texts, ev_labels)
    assert not decision.promoted and decision.candidate == "v0002"
    assert decision.scores.accuracy < good.accuracy == decision.current_scores.accuracy
    assert registry.current() == "v0001" and decision.current == "v0001"
    info = registry.info("v0002")
    assert info["status"] == "refused" and "accuracy" in info["reason"] and "<" in info["reason"]
    # far less data is refused too (the margin rule: it must beat the current model)
    few = promote_if_better(registry, train_candidate(texts[::9], labels[::9], [], calibrate=False),
                            ev_texts, ev_labels)
    assert not few.promoted and registry.current() == "v0001"
    rows = learning.listing(registry)
    assert [(r["version"], r["current"], r["status"]) for r in rows] == [
        ("v0001", True, "promoted"), ("v0002", False, "refused"), ("v0003", False, "refused")]


def test_min_gain_and_ties(tmp_path):
    registry = Registry(tmp_path / "reg")
    texts, labels = base_set(CITY)
    ev_texts, ev_labels = eval_set()
    promote_if_better(registry, train_candidate(texts, labels, calibrate=False), ev_texts, ev_labels)
    # the same data again: equal scores, promoted (ties go to the fresher model) ...
    same = promote_if_better(registry, train_candidate(texts, labels, calibrate=False), ev_texts, ev_labels)
    assert same.promoted and same.scores == same.current_scores and registry.current() == "v0002"
    # ... but not when a margin is demanded
    margin = promote_if_better(registry, train_candidate(texts, labels, calibrate=False), ev_texts, ev_labels,
                               min_gain=0.01)
    assert not margin.promoted and registry.current() == "v0002"


def test_rejects_and_reroutes_are_kept_aside_not_trained_on(tmp_path, sqlite_store, config):
    _seed_garbage_leads(sqlite_store)
    desk = Desk(sqlite_store, config)
    ana = Actor("ana", Role.ANALYST, ("南山区",))
    desk.act(ana, GARBAGE_LEADS[0], 1, "reject", reason="not_actionable", now=T0 + timedelta(hours=1))
    desk.act(ana, GARBAGE_LEADS[1], 1, "verify", correction=Correction(category=CITY, item="CG001"),
             now=T0 + timedelta(hours=1))
    desk.act(ana, GARBAGE_LEADS[2], 1, "reroute", correction=Correction(unit="区城市管理局"),
             now=T0 + timedelta(hours=1))
    texts, labels = base_set()
    candidate = train_candidate(texts, labels, sqlite_store.triage.labels(), calibrate=False)
    assert candidate.sources["desk_category_leads"] == 1  # the verify only
    assert candidate.sources["desk_category_examples"] == 4
    assert candidate.sources["desk_relevance_examples"] == 2 and candidate.sources["desk_routing_examples"] == 1
    assert candidate.model.meta["rows"] == len(texts) + 4 * learning.DESK_WEIGHT
    registry = Registry(tmp_path / "reg")
    version = promote_if_better(registry, candidate, *eval_set()).candidate
    side = [json.loads(line) for line in (registry.root / version / learning.RELEVANCE_FILE).read_text().splitlines()]
    assert sorted((e["kind"], e.get("relevant"), e.get("unit")) for e in side) == [
        ("relevance", False, None), ("relevance", True, None), ("routing", None, "区城市管理局")]


def test_registry_survives_a_reload_and_current_is_replaced_atomically(tmp_path, monkeypatch):
    root = tmp_path / "reg"
    texts, labels = base_set()
    ev = eval_set()
    first = Registry(root)
    promote_if_better(first, train_candidate(texts, labels, calibrate=False), *ev)
    answer = _answer(first.load(), NEW_GARBAGE)

    again = Registry(root)  # a new process
    assert again.versions() == ["v0001"] and again.current() == "v0001"
    assert _answer(again.load(), NEW_GARBAGE) == answer
    assert again.info("v0001")["status"] == "promoted"
    assert (root / "current").read_text() == "v0001\n"

    # a second version, then a crash while moving the pointer: the old name stays whole
    second = again.add(train_candidate(texts, labels, calibrate=False).model, {"parent": "v0001"})
    assert second == "v0002" and again.current() == "v0001"

    def crash(src, dst):
        raise OSError("disk full")
    monkeypatch.setattr(learning.os, "replace", crash)
    with pytest.raises(OSError):
        again.set_current(second)
    monkeypatch.undo()
    assert Registry(root).current() == "v0001"
    assert sorted(p.name for p in root.iterdir()) == ["current", "v0001", "v0002"]  # no temp file left
    again.set_current(second)
    assert Registry(root).current() == "v0002"


def test_radar_train_category_and_models(tmp_path, monkeypatch, config):
    """`radar train category` reads the desk's labels from the store in RADAR_HOME, promotes the
    first model, refuses a corrupted one; `radar train models` lists both."""
    import csv

    from typer.testing import CliRunner

    from core.store import Store
    from pipeline.cli import app

    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("RADAR_HOME", str(home))
    monkeypatch.delenv("DATABASE_URL", raising=False)
    store = Store.open(f"sqlite:///{home / 'radar.db'}")
    try:
        _seed_garbage_leads(store)
        Desk(store, config).act(Actor("ana", Role.ANALYST, ("南山区",)), GARBAGE_LEADS[0], 1, "recategorize",
                                correction=Correction(category=CITY, item="CG001"), now=T0 + timedelta(hours=1))
    finally:
        store.close()

    def write(path, header, rows):
        with path.open("w", encoding="utf-8", newline="") as f:
            w = csv.writer(f)
            w.writerow(header)
            w.writerows(rows)
        return path

    texts, labels = base_set()
    ev_texts, ev_labels = eval_set()
    base = write(tmp_path / "base.csv", ["text_tokens", "label"], zip(texts, labels))
    swap = {ROAD: CITY, CITY: ROAD}
    bad = write(tmp_path / "bad.csv", ["text_tokens", "label"], zip(texts, [swap.get(l, l) for l in labels]))
    ev = write(tmp_path / "eval.csv", ["留言主题", "留言详情", "label"], [(t, "", l) for t, l in zip(ev_texts, ev_labels)])
    runner = CliRunner()
    args = ["train", "category", "--eval", str(ev), "--labels-since", "2026-11-20", "--no-calibrate"]
    first = runner.invoke(app, [*args, "--base", str(base)])
    assert first.exit_code == 0, first.output
    out = json.loads(first.stdout.strip().splitlines()[-1])
    assert out["candidate"] == "v0001" and out["promoted"] is True and out["current_accuracy"] is None
    second = runner.invoke(app, [*args, "--base", str(bad)])
    out2 = json.loads(second.stdout.strip().splitlines()[-1])
    assert out2["candidate"] == "v0002" and out2["promoted"] is False
    assert out2["accuracy"] < out2["current_accuracy"] == out["accuracy"]
    registry = Registry(home / "models" / "category")
    assert registry.current() == "v0001" and registry.info("v0001")["desk_category_leads"] == 1
    listed = runner.invoke(app, ["train", "models"])
    rows = [json.loads(line) for line in listed.stdout.strip().splitlines()]
    assert [(r["version"], r["current"], r["status"]) for r in rows] == [
        ("v0001", True, "promoted"), ("v0002", False, "refused")]
