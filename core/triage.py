"""The triage state machine: which analyst action may move a lead from which status, and what
the clusterer may never undo.

    new ──claim──▶ in_review ──verify──▶ verified ──dispatch──▶ dispatched
     │                │    └──reject──▶ rejected ──(substantially new posts)──▶ new
     └────────────────┴──merge──▶ merged (into the older lead)

Every function here is pure: it takes a lead as read (with its version) and returns the lead
to write and the audit event that explains it. The store writes both in one unit of work and
refuses a lead whose version moved since it was read (optimistic concurrency).
"""
from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from enum import StrEnum

from core.models import Lead, LeadEvent, LeadStatus

S = LeadStatus


class Role(StrEnum):
    ANALYST = "analyst"          # triages the leads of their districts
    SUPERVISOR = "supervisor"    # also breaks locks and sees the desk's figures
    ADMIN = "admin"              # also manages users
    INTEGRATION = "integration"  # a machine: reads leads, reports work-order status


REJECT_REASONS: dict[str, str] = {
    "not_actionable": "不可处置",
    "outside_city": "非本市",
    "duplicate": "重复",
    "already_handled": "已处理",
    "spam": "广告/垃圾信息",
    "insufficient_info": "信息不足",
}

# The fields an analyst may decide; once decided the clusterer keeps them as they are.
CONFIRMABLE = ("category", "item", "unit", "district", "urgent", "dispatch_minutes", "resolution_hours")

WORKING = frozenset({S.NEW, S.IN_REVIEW, S.VERIFIED})

# action -> statuses it may start from
ALLOWED: dict[str, frozenset[LeadStatus]] = {
    "claim": WORKING,
    "release": frozenset({S.IN_REVIEW, S.VERIFIED}),
    "verify": frozenset({S.NEW, S.IN_REVIEW}),
    "reject": WORKING,
    "merge": WORKING,
    "split": WORKING,
    "recategorize": WORKING,
    "reroute": WORKING,
    "escalate": WORKING,
    "note": frozenset(LeadStatus) - {S.MERGED},
    "reopen": frozenset({S.REJECTED, S.CLOSED}),
    "dispatch": frozenset({S.VERIFIED}),
}
ACTIONS = tuple(ALLOWED)
LABELLED = frozenset({"verify", "reject", "recategorize", "reroute"})  # decisions models learn from
LOCK_FREE = frozenset({"claim", "note"})  # need no lock of one's own (claim takes it)


class TriageError(Exception):
    """An action was refused; `code` names why for the API."""

    code = "refused"


class InvalidTransition(TriageError):
    """The action is not allowed from the lead's current status."""

    code = "invalid_transition"


class LockHeld(TriageError):
    """Another analyst holds the lead's review lock."""

    code = "locked"

    def __init__(self, lead: Lead):
        self.lead = lead
        super().__init__(f"lead {lead.id} is claimed by {lead.claimed_by} until "
                         f"{lead.claim_expires_at.isoformat() if lead.claim_expires_at else '?'}")


class Forbidden(TriageError):
    """The actor's role may not do that."""

    code = "forbidden"


class InvalidAction(TriageError):
    """The action's own values are wrong (an unknown reason, a split that moves nothing)."""

    code = "invalid_action"


@dataclass(frozen=True)
class Actor:
    """Who acts: a user's name, role and the districts they may see (empty: every district)."""

    username: str
    role: Role
    districts: tuple[str, ...] = ()

    def sees(self, lead: Lead) -> bool:
        """District scoping: anything outside an actor's districts does not exist for them."""
        if self.role in (Role.ADMIN, Role.INTEGRATION) or not self.districts:
            return True
        return lead.district in self.districts

    @property
    def may_break_locks(self) -> bool:
        return self.role in (Role.SUPERVISOR, Role.ADMIN)


@dataclass(frozen=True)
class Correction:
    """Values an analyst confirms or corrects when verifying, re-categorizing or re-routing;
    None keeps the lead's value."""

    category: str | None = None
    item: str | None = None
    unit: str | None = None
    district: str | None = None
    urgent: bool | None = None
    dispatch_minutes: int | None = None
    resolution_hours: int | None = None

    def values(self) -> dict:
        return {k: v for k, v in self.__dict__.items() if v is not None}


@dataclass(frozen=True)
class Outcome:
    """What one action on one lead produced: the lead to write and its audit event."""

    lead: Lead
    event: LeadEvent
    labelled: bool = False  # the decision is a training example (LABELLED actions that changed or confirmed)
    extra: dict = field(default_factory=dict)


def snapshot(lead: Lead) -> dict:
    """The triage-relevant state of a lead as plain values, for before/after in the audit."""
    return {"status": lead.status.value, "category": lead.category, "item": lead.item, "unit": lead.unit,
            "district": lead.district, "urgent": lead.urgent, "dispatch_minutes": lead.dispatch_minutes,
            "resolution_hours": lead.resolution_hours, "claimed_by": lead.claimed_by,
            "reject_reason": lead.reject_reason, "version": lead.version}


def check(lead: Lead, action: str, actor: Actor, now: datetime, *, force: bool = False) -> None:
    """Refuse the action when the role, the status or another analyst's lock forbids it."""
    if action not in ALLOWED:
        raise InvalidAction(f"unknown action {action!r}")
    if actor.role == Role.INTEGRATION and action not in ("dispatch", "note"):
        raise Forbidden(f"the integration role cannot {action} leads")
    if lead.status not in ALLOWED[action]:
        allowed = ", ".join(sorted(s.value for s in ALLOWED[action]))
        raise InvalidTransition(f"cannot {action} lead {lead.id} in status {lead.status.value} "
                                f"(allowed from: {allowed})")
    if action == "note" or not lead.locked_by_other(actor.username, now):
        return
    if force and actor.may_break_locks:
        return
    raise LockHeld(lead)


def _event(lead: Lead, kind: str, actor: Actor, now: datetime, before: Lead, after: Lead,
           note: str | None, **detail) -> LeadEvent:
    body = {"before": snapshot(before), "after": snapshot(after), **detail}
    if note:
        body["note"] = note
    return LeadEvent(lead.id, kind, actor.username, now, body)


def _confirm(lead: Lead, correction: Correction) -> Lead:
    values = correction.values()
    return replace(lead, **values, confirmed=tuple(sorted(set(lead.confirmed) | set(values))))


def claim(lead: Lead, actor: Actor, now: datetime, minutes: float, *, force: bool = False,
          note: str | None = None) -> Outcome:
    """Take (or renew) the review lock for `minutes`; a supervisor may break another's lock."""
    check(lead, "claim", actor, now, force=force)
    broke = lead.locked_by_other(actor.username, now)
    after = replace(lead, status=S.IN_REVIEW if lead.status == S.NEW else lead.status,
                    claimed_by=actor.username, claim_expires_at=now + timedelta(minutes=minutes))
    kind = "lock_broken" if broke else ("claim_renewed" if lead.claimed_by == actor.username
                                         and lead.status != S.NEW else "claimed")
    extra = {"previous_holder": lead.claimed_by} if broke else {}
    return Outcome(after, _event(lead, kind, actor, now, lead, after, note, **extra))


def release(lead: Lead, actor: Actor, now: datetime, *, note: str | None = None) -> Outcome:
    check(lead, "release", actor, now, force=True)
    after = replace(lead, status=S.NEW if lead.status == S.IN_REVIEW else lead.status,
                    claimed_by=None, claim_expires_at=None)
    return Outcome(after, _event(lead, "released", actor, now, lead, after, note))


def verify(lead: Lead, actor: Actor, now: datetime, correction: Correction = Correction(), *,
           note: str | None = None) -> Outcome:
    """Verified with the category, item, unit and deadlines confirmed (or corrected)."""
    check(lead, "verify", actor, now)
    confirmed = Correction(**{k: getattr(lead, k) for k in ("category", "item", "unit")}).values()
    after = _confirm(replace(lead, status=S.VERIFIED, claimed_by=None, claim_expires_at=None),
                     Correction(**{**confirmed, **correction.values()}))
    return Outcome(after, _event(lead, "verified", actor, now, lead, after, note,
                                 corrected=sorted(k for k, v in correction.values().items()
                                                  if getattr(lead, k) != v)), labelled=True)


def reject(lead: Lead, actor: Actor, now: datetime, reason: str, *, note: str | None = None) -> Outcome:
    check(lead, "reject", actor, now)
    if reason not in REJECT_REASONS:
        raise InvalidAction(f"unknown reject reason {reason!r}; one of: {', '.join(REJECT_REASONS)}")
    after = replace(lead, status=S.REJECTED, reject_reason=reason, rejected_post_count=lead.post_count,
                    claimed_by=None, claim_expires_at=None, review_reason=None)
    return Outcome(after, _event(lead, "rejected", actor, now, lead, after, note, reason=reason),
                   labelled=True)


def correct(lead: Lead, action: str, actor: Actor, now: datetime, correction: Correction, *,
            note: str | None = None) -> Outcome:
    """Re-categorize (category, item, deadlines) or re-route (unit, district)."""
    check(lead, action, actor, now)
    fields = {"recategorize": {"category", "item", "dispatch_minutes", "resolution_hours"},
              "reroute": {"unit", "district"}}[action]
    values = correction.values()
    if not values:
        raise InvalidAction(f"{action} needs at least one of: {', '.join(sorted(fields))}")
    stray = set(values) - fields
    if stray:
        raise InvalidAction(f"{action} cannot set {', '.join(sorted(stray))}")
    after = _confirm(lead, correction)
    kind = {"recategorize": "recategorized", "reroute": "rerouted"}[action]
    return Outcome(after, _event(lead, kind, actor, now, lead, after, note), labelled=True)


def escalate(lead: Lead, actor: Actor, now: datetime, urgent_minutes: int, *, note: str | None = None) -> Outcome:
    """Urgent from now on: the SLA clock shortens to the urgent dispatch time (never lengthens)."""
    check(lead, "escalate", actor, now)
    due = lead.sla_due_at
    start = lead.detected_at or lead.first_seen
    urgent_due = start + timedelta(minutes=urgent_minutes)
    after = _confirm(replace(lead, sla_due_at=min(due, urgent_due) if due else urgent_due),
                     Correction(urgent=True))
    return Outcome(after, _event(lead, "escalated", actor, now, lead, after, note))


def add_note(lead: Lead, actor: Actor, now: datetime, note: str) -> Outcome:
    check(lead, "note", actor, now)
    if not note.strip():
        raise InvalidAction("a note needs text")
    return Outcome(lead, _event(lead, "noted", actor, now, lead, lead, note))


def reopen(lead: Lead, actor: Actor, now: datetime, *, note: str | None = None) -> Outcome:
    check(lead, "reopen", actor, now)
    after = replace(lead, status=S.NEW, reject_reason=None, rejected_post_count=None,
                    review_reason=f"reopened by {actor.username}")
    return Outcome(after, _event(lead, "reopened", actor, now, lead, after, note))


def dispatch(lead: Lead, actor: Actor, now: datetime, *, note: str | None = None, **detail) -> Outcome:
    """Verified → dispatched: stops the SLA clock (the work-order outbox writes the order)."""
    check(lead, "dispatch", actor, now)
    after = replace(lead, status=S.DISPATCHED, dispatched_at=now, claimed_by=None, claim_expires_at=None)
    return Outcome(after, _event(lead, "dispatched", actor, now, lead, after, note, **detail))


def merge(source: Lead, target: Lead, actor: Actor, now: datetime, *, note: str | None = None
          ) -> tuple[Outcome, Outcome]:
    """Fold two leads into one; the older survives (earlier first_seen, then the smaller id),
    whichever the analyst named first. Returns (survivor, absorbed)."""
    if source.id == target.id:
        raise InvalidAction("cannot merge a lead into itself")
    for lead in (source, target):
        check(lead, "merge", actor, now)
    survivor, absorbed = sorted((source, target), key=lambda l: (l.first_seen, l.id))
    gone = replace(absorbed, status=S.MERGED, merged_into=survivor.id, claimed_by=None, claim_expires_at=None)
    grown = replace(survivor, post_count=survivor.post_count + absorbed.post_count,
                    first_seen=min(survivor.first_seen, absorbed.first_seen),
                    last_seen=max(survivor.last_seen, absorbed.last_seen),
                    urgent=survivor.urgent or absorbed.urgent, priority=max(survivor.priority, absorbed.priority),
                    sla_due_at=_earliest(survivor.sla_due_at, absorbed.sla_due_at))
    return (Outcome(grown, _event(survivor, "merged_in", actor, now, survivor, grown, note, merged_from=absorbed.id)),
            Outcome(gone, _event(absorbed, "merged", actor, now, absorbed, gone, note, into=survivor.id)))


def split_check(lead: Lead, moving: Sequence[str], members: Iterable[str], actor: Actor, now: datetime) -> None:
    """A split moves some, not all, of the lead's own posts."""
    check(lead, "split", actor, now)
    members = set(members)
    if not moving:
        raise InvalidAction("choose the posts to move to the new lead")
    strangers = sorted(set(moving) - members)
    if strangers:
        raise InvalidAction(f"posts not in lead {lead.id}: {', '.join(strangers[:5])}")
    if set(moving) >= members:
        raise InvalidAction("a split must leave at least one post in the lead")


def _earliest(a: datetime | None, b: datetime | None) -> datetime | None:
    return min(x for x in (a, b) if x) if (a or b) else None


# --- what the clusterer may do to leads analysts touched ------------------------------------

def clusterer_may_absorb(survivor: Lead, other: Lead, kept_apart: set[frozenset[str]]) -> bool:
    """The clusterer folds `other` into `survivor` only while both are untouched by analysts
    (status new or closed, no confirmed field) and no analyst split them apart."""
    untouched = {S.NEW, S.CLOSED}
    if frozenset((survivor.id, other.id)) in kept_apart:
        return False
    return all(l.status in untouched and not l.confirmed for l in (survivor, other))


def clusterer_update(previous: Lead, computed: Lead) -> Lead:
    """The clusterer's recomputed lead, keeping everything triage owns: status, lock, SLA,
    and each field an analyst confirmed."""
    kept = {k: getattr(previous, k) for k in previous.confirmed if k in CONFIRMABLE}
    owned = {"status": previous.status, "detected_at": previous.detected_at, "sla_due_at": previous.sla_due_at,
             "claimed_by": previous.claimed_by, "claim_expires_at": previous.claim_expires_at,
             "reject_reason": previous.reject_reason, "rejected_post_count": previous.rejected_post_count,
             "review_reason": previous.review_reason, "dispatched_at": previous.dispatched_at,
             "confirmed": previous.confirmed, "merged_into": previous.merged_into,
             "item": computed.item or previous.item,
             "dispatch_minutes": previous.dispatch_minutes, "resolution_hours": previous.resolution_hours}
    return replace(computed, **{**owned, **kept})


def substantially_new(lead: Lead, min_new: int = 3, growth: float = 0.5) -> bool:
    """A rejected lead returns to review when at least `min_new` posts and `growth` times
    as many posts as it had when rejected have joined since."""
    before = lead.rejected_post_count or 0
    added = lead.post_count - before
    return added >= min_new and added >= growth * before
