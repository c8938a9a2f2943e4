"""Forgetting an author or posts, and the retention purge, on both store backends: after it no
store query or cache returns the posts or their text, the leads they were in are rebuilt from
what remains, work orders keep their evidence hash, and the request is audited."""
from __future__ import annotations

import hashlib
from datetime import timedelta

import pytest

from core.forget import EMPTIED_TITLE, ForgetError, ForgetKind, ForgetRequest, author_subject, check_post_ids
from core.models import LeadStatus, Window
from core.redaction import REDACTED
from pipeline.forget import forget_posts, purge_retention
from tests.conftest import T0
from tests.pipeline.forget_rig import NOISE, POTHOLE, SALT, VICTIM, add, seed

MODEL = "chars-test"


def _forget_author(store, config, *, dry_run=False):
    platform, hashed = author_subject("weibo", author_id=VICTIM, salt=SALT)
    request = ForgetRequest(ForgetKind.AUTHOR, "dpo", f"{platform}:{hashed}", "被遗忘权请求", T0 + timedelta(days=1))
    return forget_posts(store, config, None, request, store.forget.author_posts(platform, hashed), dry_run=dry_run)


def _hash(text):
    return hashlib.sha1(text.encode()).hexdigest()


def test_forgetting_an_author_reaches_every_copy_in_the_store(store, config):
    s = seed(store, config)
    before = store.leads.get(s.pothole_lead)
    assert store.posts.get_embeddings(MODEL, [_hash(POTHOLE[0])])  # cached by the cluster run
    summary = _forget_author(store, config)
    assert summary.posts == 3 and summary.request and not summary.dry_run
    assert summary.leads_repaired == (s.pothole_lead,) and summary.leads_emptied == (s.noise_lead,)

    # no store query returns the posts
    assert store.posts.get(s.victim_posts) == [] and store.posts.enriched(s.victim_posts) == []
    assert store.leads.of_posts(s.victim_posts) == {}
    everything = Window.everything()
    assert not {ep.id for ep in store.posts.unassigned_relevant(everything, relevant_only=False)} & set(s.victim_posts)
    assert not {ep.id for batch in store.posts.iter_enriched() for ep in batch} & set(s.victim_posts)
    # nor the embedding cache their text; texts of remaining posts stay cached
    assert store.posts.get_embeddings(MODEL, [_hash(POTHOLE[0]), *map(_hash, NOISE)]) == {}
    assert set(store.posts.get_embeddings(MODEL, [_hash(POTHOLE[1]), _hash(POTHOLE[2])])) == {
        _hash(POTHOLE[1]), _hash(POTHOLE[2])}
    # the victim's post on another platform is another account: kept
    assert [p.id for p in store.posts.get(["szrss:v9"])] == ["szrss:v9"]

    # the lead they shared is rebuilt from the remaining posts
    lead = store.leads.get(s.pothole_lead)
    remaining = store.leads.posts(s.pothole_lead)
    assert [ep.id for ep in remaining] == ["weibo:p1", "szrss:p2"]
    assert lead.post_count == 2 and lead.platform_count == 2
    assert lead.first_seen == T0 + timedelta(hours=5) and lead.last_seen == T0 + timedelta(hours=9)
    assert lead.title in (POTHOLE[1][:60], POTHOLE[2][:60]) and lead.status == before.status
    assert lead.version == before.version + 1
    [(_, profile)] = [(l, p) for l, p in store.leads.anchors(T0 - timedelta(days=30), T0 - timedelta(days=30))
                      if l.id == s.pothole_lead]
    assert profile.members == 2 and profile.tally.posts == 2
    assert profile.representative in ("weibo:p1", "szrss:p2") and profile.embedding is not None

    # the lead only they reported is closed, kept, and says why
    noise = store.leads.get(s.noise_lead)
    assert noise.status == LeadStatus.CLOSED and noise.post_count == 0 and noise.title.startswith(EMPTIED_TITLE)
    assert not any(t in noise.title for t in NOISE) and noise.keywords == ()
    assert store.leads.posts(s.noise_lead) == []
    [event] = [e for e in store.leads.events(s.noise_lead) if e.kind == "posts_forgotten"]
    assert event.detail["posts"] == ["weibo:n0", "weibo:n1"] and event.detail["emptied"] is True
    assert event.detail["request"] == summary.request and event.actor == "dpo"
    assert not any(NOISE[0][:20] in str(e.detail) for e in store.leads.events(s.noise_lead))

    # the work order keeps its evidence hash; the forgotten post's text is gone from it
    order = store.orders.get(s.order_id)
    assert order.evidence_hash == s.evidence_hash and summary.orders_redacted == (s.order_id,)
    [gone] = [e for e in order.evidence if e.post_id == "weibo:p0"]
    assert gone.redacted and gone.text == REDACTED and gone.url == "" and gone.content_hash
    assert all(not e.redacted and e.text for e in order.evidence if e.post_id != "weibo:p0")
    assert POTHOLE[0][:30] not in order.description and POTHOLE[0][:30] not in order.title

    # the training label keeps its decision, not their text
    [label] = store.triage.labels()
    assert not any(t in label.text for t in NOISE) and summary.labels_redacted == 1

    # one audit record: who, when, why, how many, which leads
    [record] = store.forget.requests()
    assert record["id"] == summary.request and record["kind"] == "author" and record["actor"] == "dpo"
    assert record["reason"] == "被遗忘权请求" and record["posts"] == 3
    assert sorted(record["post_ids"]) == sorted(s.victim_posts)
    assert sorted(record["leads"]) == sorted([s.pothole_lead, s.noise_lead])
    assert record["index_status"].startswith("done")


def test_forgetting_the_same_author_twice_is_a_no_op(store, config):
    seed(store, config)
    _forget_author(store, config)
    again = _forget_author(store, config)
    assert again.posts == 0 and again.request is None and "nothing to forget" in again.note
    assert len(store.forget.requests()) == 1


def test_unknown_post_ids_are_reported_and_the_rest_forgotten(store, config):
    s = seed(store, config)
    wanted = check_post_ids(["weibo:p1", "weibo:nope", "weibo:p1"])
    held = store.forget.existing(wanted)
    request = ForgetRequest(ForgetKind.POSTS, "dpo", None, None, T0 + timedelta(days=1))
    summary = forget_posts(store, config, None, request, [i for i in wanted if i in held],
                           unknown=[i for i in wanted if i not in held])
    assert summary.posts == 1 and summary.unknown == ("weibo:nope",)
    assert store.posts.get(["weibo:p1"]) == [] and store.leads.get(s.pothole_lead).post_count == 2


def test_a_dry_run_changes_nothing(store, config):
    s = seed(store, config)
    leads = [(l.id, l.version, l.title, l.post_count) for l in store.leads.list()[1]]
    summary = _forget_author(store, config, dry_run=True)
    assert summary.dry_run and summary.posts == 3 and summary.request is None
    assert summary.leads_emptied == (s.noise_lead,)
    assert len(store.posts.get(s.victim_posts)) == 3
    assert [(l.id, l.version, l.title, l.post_count) for l in store.leads.list()[1]] == leads
    assert store.forget.requests() == [] and store.posts.get_embeddings(MODEL, [_hash(POTHOLE[0])])


def test_retention_purges_only_posts_older_than_the_cutoff(store, config):
    s = seed(store, config)
    old = add(store, "old1", "很久以前的帖子：宝安区某路口红绿灯坏了", at=T0 - timedelta(days=400))
    cutoff = T0 - timedelta(days=365)
    request = ForgetRequest(ForgetKind.RETENTION, "retention", cutoff.isoformat(), "retention", T0)
    dry = purge_retention(store, config, None, request, cutoff, dry_run=True)
    assert dry.posts == 1 and store.posts.get([old])
    summary = purge_retention(store, config, None, request, cutoff, batch=1)
    assert summary.posts == 1 and store.posts.get([old]) == []
    assert len(store.posts.get(s.victim_posts + s.other_posts)) == 6
    [record] = store.forget.requests()
    assert record["kind"] == "retention" and record["posts"] == 1 and record["post_ids"] is None
    nothing = purge_retention(store, config, None, ForgetRequest(ForgetKind.RETENTION, "retention", None, None, T0),
                              cutoff)
    assert nothing.posts == 0 and nothing.request is None


def test_bad_input_is_a_clear_error():
    with pytest.raises(ForgetError, match="author id is empty"):
        author_subject("weibo", author_id="  ", salt=SALT)
    with pytest.raises(ForgetError, match="platform"):
        author_subject("", author_id="x", salt=SALT)
    with pytest.raises(ForgetError, match="24 lower-case hex"):
        author_subject("weibo", author_hash="nothex", salt=SALT)
    with pytest.raises(ForgetError, match="malformed post id.*'p1'"):
        check_post_ids(["weibo:p2", "p1"])
    with pytest.raises(ForgetError, match="no post id"):
        check_post_ids([])
