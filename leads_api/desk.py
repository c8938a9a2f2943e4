"""The desk's actions on leads: scope, state machine (core.triage), optimistic versions, and
one unit of work per action, so the lead, its audit event and its label commit together.

The JSON API and the web pages both call `Desk`; neither writes a lead any other way.
"""
from __future__ import annotations

import hashlib
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime

from core import sla, triage
from core.config import Config
from core.models import EnrichedPost, Lead, LeadEvent, LeadStatus, TriageLabel, utcnow
from core.orders import OrderStatus, Place, WorkOrder, build_order, order_id_for, same_place
from core.store import ConcurrencyError, LeadNotFound, Store
from core.triage import Actor, Correction, InvalidAction, Outcome

LABEL_POSTS = 3  # posts whose text goes into a decision's training example


class StaleVersion(Exception):
    """The lead changed since the version the action names; `current` is how it is now."""

    def __init__(self, current: Lead, seen: int):
        self.current = current
        super().__init__(f"lead {current.id} is at version {current.version}, the action saw version {seen}")


class BadValue(Exception):
    """A value of the action that the three lists do not know; `field` names it."""

    def __init__(self, field: str, message: str):
        self.field, self.message = field, message
        super().__init__(f"{field}: {message}")


@dataclass(frozen=True)
class BulkResult:
    lead_id: str
    ok: bool
    status: int
    error: str | None = None
    lead: Lead | None = None


def model_version(config: Config) -> str:
    """Names the enrichment that made the model's side of a label: its rule files' hash."""
    h = hashlib.sha1()
    for name in ("catalogue.yaml", "relevance.yaml", "duties.yaml", "implementation.yaml"):
        path = config.directory / name
        h.update(path.read_bytes() if path.exists() else b"")
    return "rules-" + h.hexdigest()[:10]


class Desk:
    def __init__(self, store: Store, config: Config):
        self.store = store
        self.config = config
        self.items = {item.id: cat.name for cat in config.catalogue.categories for item in cat.items}
        self.item_names = {item.id: item.name for cat in config.catalogue.categories for item in cat.items}
        self.categories = {cat.name for cat in config.catalogue.categories}
        self.districts = {d.name for d in config.gazetteer.districts}
        self.model_version = model_version(config)

    # --- reads --------------------------------------------------------------------------------

    def lead(self, actor: Actor, lead_id: str) -> Lead:
        """The lead if the actor may see it; a lead outside their districts does not exist."""
        lead = self.store.leads.get(lead_id)
        if not actor.sees(lead):
            raise LeadNotFound(lead_id)
        return lead

    def similar(self, actor: Actor, lead_id: str, limit: int = 5) -> list[Lead]:
        """Other leads of the same category and district the actor may see, those sharing most
        keywords first, then the most recent."""
        lead = self.lead(actor, lead_id)
        if not lead.category or not lead.district:
            return []
        mine = set(lead.keywords)
        pool = [l for l in self.store.triage.past_leads(lead.category, lead.district, lead.id, 200) if actor.sees(l)]
        pool.sort(key=lambda l: (-len(mine & set(l.keywords)), -l.last_seen.timestamp(), l.id))
        return pool[:limit]

    # --- single actions -----------------------------------------------------------------------

    def act(self, actor: Actor, lead_id: str, version: int | None, action: str, *, note: str | None = None,
            correction: Correction = Correction(), reason: str | None = None, force: bool = False,
            now: datetime | None = None) -> Lead:
        """Apply one action (not merge or split) to the lead at `version`; returns the lead after."""
        now = now or utcnow()
        lead = self._at_version(actor, lead_id, version)
        self._validate(correction)
        if (correction.category and not correction.item and lead.item
                and self.items.get(lead.item) not in (None, correction.category)):
            raise BadValue("item", f"item {lead.item} belongs to {self.items[lead.item]}: "
                                   f"choose an item of {correction.category}")
        cfg = self.config.radar.triage
        if action == "claim":
            out = triage.claim(lead, actor, now, cfg.claim_minutes, force=force, note=note)
        elif action == "release":
            out = triage.release(lead, actor, now, note=note)
        elif action == "verify":
            out = triage.verify(lead, actor, now, correction, note=note)
        elif action == "reject":
            out = triage.reject(lead, actor, now, reason or "", note=note)
        elif action in ("recategorize", "reroute"):
            out = triage.correct(lead, action, actor, now, correction, note=note)
        elif action == "escalate":
            out = triage.escalate(lead, actor, now, self.config.implementation.urgent_dispatch_minutes, note=note)
        elif action == "note":
            out = triage.add_note(lead, actor, now, note or "")
        elif action == "reopen":
            out = triage.reopen(lead, actor, now, note=note)
        elif action == "dispatch":
            out = triage.dispatch(lead, actor, now, note=note)
        else:
            raise InvalidAction(f"unknown action {action!r}")
        if action == "note":  # a note changes no field: it bumps no version, so it stales nobody's page
            self.store.triage.add_events([out.event])
            return lead
        out = replace(out, lead=self._reclock(lead, out.lead))
        self._commit([(out, lead.version)], [out] if out.labelled else [], action, seen=version)
        return self.store.leads.get(lead_id)

    def merge(self, actor: Actor, lead_id: str, version: int | None, other_id: str, other_version: int | None,
              *, note: str | None = None, now: datetime | None = None) -> Lead:
        """Merge two leads; the older survives and is returned."""
        now = now or utcnow()
        first = self._at_version(actor, lead_id, version)
        try:
            second = self._at_version(actor, other_id, other_version)
        except LeadNotFound:
            raise BadValue("other_id", f"no lead {other_id} in your districts") from None
        kept, gone = triage.merge(first, second, actor, now, note=note)
        versions = {first.id: first.version, second.id: second.version}
        with self.store.unit_of_work() as uow:
            try:
                # the absorbed lead first, so its posts can move to the survivor
                uow.leads.update_many([(gone.lead, versions[gone.lead.id], gone.event, ()),
                                       (kept.lead, versions[kept.lead.id], kept.event, ())])
            except ConcurrencyError:
                raise self._stale(lead_id, version if version is not None else first.version) from None
            uow.triage.move_lead_posts(gone.lead.id, kept.lead.id)
            uow.triage.forget_profiles([kept.lead.id, gone.lead.id])
        return self.store.leads.get(kept.lead.id)

    def split(self, actor: Actor, lead_id: str, version: int | None, post_ids: Sequence[str], *,
              note: str | None = None, now: datetime | None = None) -> tuple[Lead, Lead]:
        """Move the chosen posts to a new lead; the two are kept apart from then on.
        Returns (the lead, the new lead)."""
        now = now or utcnow()
        lead = self._at_version(actor, lead_id, version)
        members = self.store.leads.posts(lead_id)
        moving = list(dict.fromkeys(post_ids))
        triage.split_check(lead, moving, (ep.id for ep in members), actor, now)
        chosen = [ep for ep in members if ep.id in set(moving)]
        staying = [ep for ep in members if ep.id not in set(moving)]
        new_id = "L" + hashlib.sha1(f"split:{lead.id}:{','.join(sorted(moving))}".encode()).hexdigest()[:12]
        confirmed = tuple(sorted(set(lead.confirmed) | {"members"}))
        new_lead = self._reclock(None, _lead_of(new_id, chosen, lead, now, confirmed))
        rest = replace(lead, post_count=len(staying), confirmed=confirmed,
                       first_seen=min(ep.post.published_at for ep in staying),
                       last_seen=max(ep.post.published_at for ep in staying),
                       platform_count=len({ep.post.platform for ep in staying}))
        snap = triage.snapshot
        event = LeadEvent(lead.id, "split", actor.username, now,
                                 {"before": snap(lead), "after": snap(rest), "new_lead": new_id, "posts": moving,
                                  **({"note": note} if note else {})})
        created = LeadEvent(new_id, "split_from", actor.username, now,
                                   {"from": lead.id, "posts": moving, "after": snap(new_lead),
                                    **({"note": note} if note else {})})
        with self.store.unit_of_work() as uow:
            try:
                uow.leads.update_many([(rest, lead.version, event, ())])
            except ConcurrencyError:
                raise self._stale(lead_id, version if version is not None else lead.version) from None
            uow.leads.create_many([(new_lead, [], created)])
            uow.triage.move_posts(moving, new_id, actor.username)
            uow.triage.keep_apart(lead.id, new_id, actor.username, now)
            uow.triage.forget_profiles([lead.id])
        return self.store.leads.get(lead.id), self.store.leads.get(new_id)

    def dispatch(self, actor: Actor, lead_id: str, version: int | None, *, note: str | None = None,
                 now: datetime | None = None) -> tuple[Lead, WorkOrder]:
        """Verified → dispatched, with its work order filed in the same unit of work (the order
        row is the outbox row). A lead about the same place and item as an open order joins
        that order instead of filing a second one. Returns (the lead, its order)."""
        now = now or utcnow()
        lead = self._at_version(actor, lead_id, version)
        triage.check(lead, "dispatch", actor, now)
        if not lead.unit:
            raise BadValue("unit", "a lead needs a responsible unit before it is dispatched: re-route it first")
        posts = self.store.leads.posts(lead_id)
        item_name = self.item_names.get(lead.item or "")
        draft = build_order("", lead, posts, target="", actor=actor.username, now=now, item_name=item_name)
        twin = next((o for o in (self.store.orders.open_for_item(lead.item, lead.district) if lead.item else [])
                     if o.lead_id != lead.id and same_place(o, draft.place)), None)
        with self.store.unit_of_work() as uow:
            if twin is not None:
                out = triage.dispatch(lead, actor, now, note=note, order=twin.id, linked=True)
                self._write(uow, out, lead, version)
                uow.orders.link(lead.id, twin.id, actor.username, now)
                order = twin
            else:
                n = uow.orders.count_for_lead(lead.id) + 1
                order = replace(draft, id=order_id_for(lead.id, n), target=self.target_for(lead.unit, lead.district))
                out = triage.dispatch(lead, actor, now, note=note, order=order.id, target=order.target)
                self._write(uow, out, lead, version)
                uow.orders.create(order, now)
        return self.store.leads.get(lead_id), self.store.orders.get(order.id)

    def resend(self, actor: Actor, lead_id: str, version: int | None, unit: str, *, note: str | None = None,
               now: datetime | None = None) -> tuple[Lead, WorkOrder]:
        """A returned (or resolved-but-still-reported) order goes out again: to the unit the
        analyst confirms, as the same order sent once more. The returned pair is kept as a
        routing label."""
        now = now or utcnow()
        lead = self._at_version(actor, lead_id, version)
        order = self.store.orders.for_lead(lead_id)
        if order is None or order.lead_id != lead_id:
            raise InvalidAction(f"lead {lead_id} has no order of its own to send again")
        if order.status not in (OrderStatus.RETURNED, OrderStatus.RESOLVED, OrderStatus.REOPENED):
            raise triage.InvalidTransition(f"order {order.id} is {order.status.value}: only a returned, "
                                           "resolved or reopened order is sent again")
        triage.check(lead, "note", actor, now)
        if lead.locked_by_other(actor.username, now):
            raise triage.LockHeld(lead)
        after = replace(lead, unit=unit, status=LeadStatus.DISPATCHED, review_reason=None, dispatched_at=now,
                        confirmed=tuple(sorted(set(lead.confirmed) | {"unit"})))
        event = LeadEvent(lead.id, "order_resent", actor.username, now,
                          {"before": triage.snapshot(lead), "after": triage.snapshot(after), "order": order.id,
                           "returned_by": order.unit, "reason": order.status_reason,
                           **({"note": note} if note else {})})
        label = TriageLabel(lead.id, "returned", lead.title, {"unit": order.unit, "item": lead.item},
                            {"unit": unit, "item": lead.item, "reason": order.status_reason},
                            actor.username, now, self.model_version)
        with self.store.unit_of_work() as uow:
            try:
                uow.leads.update_many([(after, lead.version, event, ())])
            except ConcurrencyError:
                raise self._stale(lead_id, version if version is not None else lead.version) from None
            uow.triage.add_labels([label])
            sent = uow.orders.resend(order, now, unit=unit, target=self.target_for(unit, lead.district),
                                     actor=actor.username)
        return self.store.leads.get(lead_id), sent

    def reroute_suggestions(self, lead: Lead, order: WorkOrder | None, limit: int = 5) -> list[str]:
        """Units a returned order could go to, best first: the unit the receiver named, then
        the duty list's units for the lead's item and place (street, district, city level),
        never the unit that returned it."""
        from enrichment.routing import Router
        returned_by = order.unit if order else lead.unit
        hints = [u.unit for u in (self.store.orders.updates(order.id) if order else [])
                 if u.status == OrderStatus.RETURNED and u.unit]
        router = Router(self.config)
        candidates = hints[::-1]
        for street in (lead.street, None):
            for district in (lead.district, None):
                route = router.route(lead.item, lead.category, district, street, lead.urgent)
                candidates.append(route.unit)
        for rule in self.config.duties.rules:
            if rule.item == lead.item and rule.district in (None, lead.district):
                candidates.append(router.route(rule.item, lead.category, rule.district or lead.district,
                                               rule.street or lead.street, lead.urgent).unit)
        out: list[str] = []
        for unit in candidates:
            if unit and unit != returned_by and unit not in out:
                out.append(unit)
        return out[:limit]

    def target_for(self, unit: str | None, district: str | None) -> str:
        from core.config import target_for
        try:
            return target_for(self.config.delivery, unit, district)
        except LookupError as exc:
            raise InvalidAction(f"cannot dispatch: {exc}") from None

    def _write(self, uow, out: Outcome, lead: Lead, version: int | None) -> None:
        try:
            uow.leads.update_many([(out.lead, lead.version, out.event, ())])
        except ConcurrencyError:
            raise self._stale(lead.id, version if version is not None else lead.version) from None

    def bulk(self, actor: Actor, action: str, items: Sequence[tuple[str, int | None]], *,
             reason: str | None = None, note: str | None = None) -> list[BulkResult]:
        """Verify or reject many leads; each succeeds or fails on its own."""
        if action not in ("verify", "reject"):
            raise InvalidAction("bulk actions are verify and reject")
        out = []
        for lead_id, version in items:
            try:
                lead = self.act(actor, lead_id, version, action, reason=reason, note=note)
                out.append(BulkResult(lead_id, True, 200, lead=lead))
            except LeadNotFound:
                out.append(BulkResult(lead_id, False, 404, f"no lead with id {lead_id}"))
            except StaleVersion as exc:
                out.append(BulkResult(lead_id, False, 409, str(exc), exc.current))
            except triage.LockHeld as exc:
                out.append(BulkResult(lead_id, False, 409, str(exc), exc.lead))
            except triage.Forbidden as exc:
                out.append(BulkResult(lead_id, False, 403, str(exc)))
            except (triage.TriageError, BadValue) as exc:
                out.append(BulkResult(lead_id, False, 422 if isinstance(exc, (InvalidAction, BadValue)) else 409,
                                      str(exc)))
        return out

    # --- helpers ------------------------------------------------------------------------------

    def _at_version(self, actor: Actor, lead_id: str, version: int | None) -> Lead:
        lead = self.lead(actor, lead_id)
        if version is not None and version != lead.version:
            raise StaleVersion(lead, version)
        return lead

    def _stale(self, lead_id: str, version: int | None) -> StaleVersion:
        return StaleVersion(self.store.leads.get(lead_id), version if version is not None else -1)

    def _validate(self, c: Correction) -> None:
        if c.category is not None and c.category not in self.categories:
            raise BadValue("category", f"unknown category {c.category!r}")
        if c.item is not None:
            if c.item not in self.items:
                raise BadValue("item", f"unknown catalogue item {c.item!r}")
            if c.category is not None and self.items[c.item] != c.category:
                raise BadValue("item", f"item {c.item} belongs to {self.items[c.item]}, not {c.category}")
        if c.district is not None and c.district not in self.districts:
            raise BadValue("district", f"unknown district {c.district!r}")
        if c.unit is not None and not c.unit.strip():
            raise BadValue("unit", "a unit needs a name")

    def _reclock(self, before: Lead | None, after: Lead) -> Lead:
        """A corrected item, category or urgency moves the SLA deadline (never past dispatch)."""
        if after.status == LeadStatus.DISPATCHED:
            return after
        if before is not None and (before.item, before.category, before.urgent, before.dispatch_minutes) == (
                after.item, after.category, after.urgent, after.dispatch_minutes) and before.sla_due_at:
            return after
        return replace(after, sla_due_at=sla.due_at(after, self.config.implementation))

    def _commit(self, outcomes: Sequence[tuple[Outcome, int]], labelled: Sequence[Outcome], action: str, *,
                seen: int | None = None) -> None:
        labels = [self._label(o, action) for o in labelled]
        with self.store.unit_of_work() as uow:
            try:
                uow.leads.update_many([(o.lead, v, o.event, ()) for o, v in outcomes])
            except ConcurrencyError:  # another writer won the race between our read and write
                o, read = outcomes[0]
                raise self._stale(o.lead.id, seen if seen is not None else read) from None
            if labels:
                uow.triage.add_labels(labels)

    def _label(self, out: Outcome, action: str) -> TriageLabel:
        before, after = out.event.detail["before"], triage.snapshot(out.lead)
        edge = self.store.leads.edge_ids([out.lead.id], LABEL_POSTS).get(out.lead.id, [])
        posts = self.store.posts.enriched(edge[:LABEL_POSTS])
        text = "\n".join([out.lead.title] + [ep.post.full_text for ep in posts])
        model = {"relevant": True, "category": before["category"], "item": before["item"], "unit": before["unit"],
                 "district": before["district"], "urgent": before["urgent"],
                 "post_categories": dict(Counter(ep.enrichment.category for ep in posts if ep.enrichment.category))}
        decision = {"relevant": action != "reject", "category": after["category"], "item": after["item"],
                    "unit": after["unit"], "district": after["district"], "urgent": after["urgent"]}
        if action == "reject":
            decision["reason"] = out.lead.reject_reason
        return TriageLabel(out.lead.id, action, text, model, decision, out.event.actor, out.event.at,
                           self.model_version)


def _lead_of(lead_id: str, posts: Sequence[EnrichedPost], source: Lead, now: datetime,
             confirmed: tuple[str, ...]) -> Lead:
    """A lead made by hand from posts split off `source`: its fields from those posts; its
    triage state starts over (new), its priority is the source's until the clusterer rescores it."""
    first = min(posts, key=lambda ep: (ep.post.published_at, ep.id))

    def most(values):
        c = Counter(v for v in values if v)
        return c.most_common(1)[0][0] if c else None

    title = (first.post.title or first.enrichment.normalized_text.replace("\n", " "))[:60]
    return Lead(id=lead_id, status=LeadStatus.NEW, title=title,
                category=most(ep.enrichment.category for ep in posts) or source.category,
                district=most(ep.enrichment.district for ep in posts) or source.district,
                street=most(ep.enrichment.street for ep in posts), unit=most(ep.enrichment.unit for ep in posts),
                urgent=any(ep.enrichment.urgent for ep in posts), priority=source.priority,
                priority_parts=source.priority_parts, post_count=len(posts),
                platform_count=len({ep.post.platform for ep in posts}),
                first_seen=first.post.published_at, last_seen=max(ep.post.published_at for ep in posts),
                item=most(ep.enrichment.item for ep in posts), detected_at=source.detected_at or now, confirmed=confirmed,
                keywords=source.keywords)
