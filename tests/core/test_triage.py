"""The triage state machine and SLA clocks, without a store."""
from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

import pytest

from core import sla, triage
from core.models import Lead, LeadStatus, PriorityParts
from core.triage import Actor, Correction, Role
from tests.conftest import T0

ANA = Actor("ana", Role.ANALYST, ("南山区",))
BOB = Actor("bob", Role.ANALYST, ("南山区",))
SUP = Actor("sue", Role.SUPERVISOR)
BOT = Actor("wo-system", Role.INTEGRATION)


def lead(**kw) -> Lead:
    base = Lead(id="L000000000001", status=LeadStatus.NEW, title="路面塌陷", category="交通运输", district="南山区",
                street=None, unit="南山区交通运输局", urgent=False, priority=0.5, priority_parts=PriorityParts(),
                post_count=4, platform_count=2, first_seen=T0, last_seen=T0 + timedelta(hours=1), item="JT001",
                detected_at=T0, sla_due_at=T0 + timedelta(hours=2))
    return replace(base, **kw)


def test_claim_locks_and_moves_to_review():
    out = triage.claim(lead(), ANA, T0, 15)
    assert out.lead.status == LeadStatus.IN_REVIEW
    assert out.lead.claimed_by == "ana" and out.lead.claim_expires_at == T0 + timedelta(minutes=15)
    assert out.event.kind == "claimed" and out.event.detail["before"]["status"] == "new"
    assert out.event.detail["after"]["claimed_by"] == "ana"


def test_another_analyst_meets_the_lock_until_it_expires():
    held = triage.claim(lead(), ANA, T0, 15).lead
    for act in (lambda: triage.claim(held, BOB, T0, 15), lambda: triage.verify(held, BOB, T0),
                lambda: triage.reject(held, BOB, T0, "spam")):
        with pytest.raises(triage.LockHeld, match="claimed by ana"):
            act()
    later = T0 + timedelta(minutes=16)
    assert triage.claim(held, BOB, later, 15).lead.claimed_by == "bob"
    # a note needs no lock
    assert triage.add_note(held, BOB, T0, "看过了").event.kind == "noted"


def test_supervisor_breaks_a_lock_analyst_cannot():
    held = triage.claim(lead(), ANA, T0, 15).lead
    with pytest.raises(triage.LockHeld):
        triage.claim(held, BOB, T0, 15, force=True)
    out = triage.claim(held, SUP, T0, 15, force=True)
    assert out.event.kind == "lock_broken" and out.event.detail["previous_holder"] == "ana"


def test_verify_confirms_and_corrects_fields_and_is_a_label():
    out = triage.verify(lead(), ANA, T0, Correction(category="生态环境", item="ST001"), note="实为占道")
    assert out.lead.status == LeadStatus.VERIFIED and out.labelled
    assert out.lead.category == "生态环境" and out.lead.item == "ST001"
    assert {"category", "item", "unit"} <= set(out.lead.confirmed)
    assert out.event.detail["corrected"] == ["category", "item"] and out.event.detail["note"] == "实为占道"


@pytest.mark.parametrize("status, action", [
    (LeadStatus.MERGED, "verify"), (LeadStatus.REJECTED, "verify"), (LeadStatus.DISPATCHED, "reject"),
    (LeadStatus.VERIFIED, "verify"), (LeadStatus.NEW, "dispatch"), (LeadStatus.NEW, "reopen"),
    (LeadStatus.CLOSED, "claim"), (LeadStatus.MERGED, "note"),
])
def test_invalid_transitions_are_refused_with_the_allowed_states(status, action):
    with pytest.raises(triage.InvalidTransition, match=f"cannot {action} .* in status {status.value}.*allowed from"):
        triage.check(lead(status=status), action, ANA, T0)


def test_reject_needs_a_known_reason():
    with pytest.raises(triage.InvalidAction, match="unknown reject reason"):
        triage.reject(lead(), ANA, T0, "boring")
    out = triage.reject(lead(), ANA, T0, "spam")
    assert out.lead.status == LeadStatus.REJECTED and out.lead.rejected_post_count == 4


def test_integration_role_cannot_triage():
    with pytest.raises(triage.Forbidden):
        triage.verify(lead(), BOT, T0)


def test_merge_keeps_the_older_lead_whichever_is_named_first():
    old = lead(id="L00000000000b", first_seen=T0 - timedelta(days=2))
    young = lead(id="L00000000000a")
    kept, gone = triage.merge(young, old, ANA, T0)
    assert kept.lead.id == old.id and gone.lead.id == young.id
    assert gone.lead.status == LeadStatus.MERGED and gone.lead.merged_into == old.id
    assert kept.lead.post_count == 8 and kept.event.detail["merged_from"] == young.id
    with pytest.raises(triage.InvalidAction):
        triage.merge(old, old, ANA, T0)


def test_split_must_move_some_not_all_of_the_leads_own_posts():
    members = ["weibo:1", "weibo:2", "weibo:3"]
    triage.split_check(lead(), ["weibo:1"], members, ANA, T0)
    for moving, message in ((["weibo:9"], "not in lead"), (members, "at least one"), ([], "choose")):
        with pytest.raises(triage.InvalidAction, match=message):
            triage.split_check(lead(), moving, members, ANA, T0)


def test_correct_refuses_fields_of_the_other_action():
    with pytest.raises(triage.InvalidAction, match="cannot set unit"):
        triage.correct(lead(), "recategorize", ANA, T0, Correction(unit="x"))
    with pytest.raises(triage.InvalidAction, match="needs at least one"):
        triage.correct(lead(), "reroute", ANA, T0, Correction())
    out = triage.correct(lead(), "reroute", ANA, T0, Correction(unit="粤海街道办"))
    assert out.lead.unit == "粤海街道办" and "unit" in out.lead.confirmed and out.labelled


def test_escalate_shortens_the_clock_never_lengthens_it():
    out = triage.escalate(lead(), ANA, T0, 30)
    assert out.lead.urgent and out.lead.sla_due_at == T0 + timedelta(minutes=30)
    early = lead(sla_due_at=T0 + timedelta(minutes=10))
    assert triage.escalate(early, ANA, T0, 30).lead.sla_due_at == T0 + timedelta(minutes=10)


def test_district_scoping():
    assert ANA.sees(lead()) and not ANA.sees(lead(district="福田区"))
    assert SUP.sees(lead(district="福田区"))


def test_clusterer_keeps_what_analysts_decided():
    decided = triage.verify(triage.claim(lead(), ANA, T0, 15).lead, ANA, T0, Correction(category="市容环境")).lead
    computed = lead(category="交通运输", unit="别的单位", post_count=9, status=LeadStatus.NEW, claimed_by=None,
                    sla_due_at=None, confirmed=())
    merged = triage.clusterer_update(decided, computed)
    assert merged.status == LeadStatus.VERIFIED and merged.category == "市容环境" and merged.unit == "南山区交通运输局"
    assert merged.post_count == 9 and merged.sla_due_at == decided.sla_due_at


def test_clusterer_may_absorb_only_untouched_leads_not_kept_apart():
    a, b = lead(id="L00000000000a"), lead(id="L00000000000b")
    assert triage.clusterer_may_absorb(a, b, set())
    assert not triage.clusterer_may_absorb(a, b, {frozenset((a.id, b.id))})
    assert not triage.clusterer_may_absorb(a, replace(b, status=LeadStatus.REJECTED), set())
    assert not triage.clusterer_may_absorb(a, replace(b, confirmed=("members",)), set())


def test_rejected_lead_returns_only_with_substantially_new_posts():
    rejected = triage.reject(lead(post_count=4), ANA, T0, "spam").lead
    assert not triage.substantially_new(replace(rejected, post_count=5))
    assert triage.substantially_new(replace(rejected, post_count=7))


def test_sla_minutes_by_item_category_and_urgency(config):
    impl = config.implementation
    assert sla.dispatch_minutes(impl, category=None, item=None, urgent=False) == 120
    assert sla.dispatch_minutes(impl, category=None, item=None, urgent=True) == 30
    assert sla.dispatch_minutes(impl, category="交通运输", item="JT002", urgent=False) == 30
    custom = impl.model_copy(update={"category_dispatch_minutes": {"教育": 240}})
    assert sla.dispatch_minutes(custom, category="教育", item=None, urgent=False) == 240
    l = lead(item="JT001", dispatch_minutes=None)
    assert sla.due_at(l, impl) == T0 + timedelta(minutes=120)
    assert sla.seconds_left(l, T0 + timedelta(minutes=150)) == pytest.approx(-1800)
    assert sla.breached(l, T0 + timedelta(minutes=150))
    assert sla.seconds_left(replace(l, status=LeadStatus.DISPATCHED), T0) is None
