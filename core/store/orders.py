"""Work orders: the order (and outbox) rows, linked leads, received status updates, the change
feed and the targets' circuit breakers.

The outbox contract: `lease_due` hands each due order to one worker for `lease` seconds
(optimistic version check), and every outcome (`delivered`, `failed`) clears the lease. A
worker killed mid-send leaves a lease that simply expires: the order is sent again with the
same id, which the receiver deduplicates.
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, replace
from datetime import datetime, timedelta

from sqlalchemy import and_, func, or_, select, update

from core.models import utcnow
from core.orders import DeliveryState, Evidence, OrderStatus, Place, StatusUpdate, WorkOrder, applies
from core.store import tables as t
from core.store.db import Repository, chunks
from core.store.errors import StoreError

W = t.work_orders


class OrderNotFound(StoreError):
    """No work order with that id."""


class LiveOrderExists(StoreError):
    """The lead already has a live order."""


def _row(o: WorkOrder) -> dict:
    return {"id": o.id, "lead_id": o.lead_id, "status": o.status.value, "target": o.target, "title": o.title,
            "description": o.description, "category": o.category, "item": o.item, "item_name": o.item_name,
            "unit": o.unit, "urgent": o.urgent, "dispatch_minutes": o.dispatch_minutes,
            "resolution_hours": o.resolution_hours, "due_at": o.due_at, **asdict(o.place),
            "evidence": [asdict(e) for e in o.evidence], "evidence_hash": o.evidence_hash,
            "created_at": o.created_at, "created_by": o.created_by, "updated_at": o.updated_at,
            "delivery": o.delivery.value, "attempts": o.attempts, "remote_id": o.remote_id,
            "remote_token": o.remote_token, "status_at": o.status_at, "status_reason": o.status_reason,
            "sends": o.sends, "last_error": o.last_error, "version": o.version}


def order_from_row(r) -> WorkOrder:
    evidence = tuple(Evidence(**{**e, "media": tuple(e.get("media") or ())}) for e in (r.evidence or ()))
    return WorkOrder(id=r.id, lead_id=r.lead_id, status=OrderStatus(r.status), target=r.target, title=r.title,
                     description=r.description, category=r.category, item=r.item, item_name=r.item_name,
                     unit=r.unit, urgent=r.urgent, dispatch_minutes=r.dispatch_minutes,
                     resolution_hours=r.resolution_hours, due_at=r.due_at,
                     place=Place(r.district, r.street, r.community, r.address, r.lat, r.lon), evidence=evidence,
                     created_at=r.created_at, created_by=r.created_by, updated_at=r.updated_at,
                     delivery=DeliveryState(r.delivery), attempts=r.attempts, remote_id=r.remote_id,
                     remote_token=r.remote_token, status_at=r.status_at, status_reason=r.status_reason,
                     sends=r.sends, last_error=r.last_error, version=r.version)


class OrderRepository(Repository):

    # --- filing ---------------------------------------------------------------------------

    def create(self, order: WorkOrder, now: datetime) -> WorkOrder:
        """File an order, due for delivery now; refuses a second live order for the lead."""
        with self.db.begin() as conn:
            live = conn.execute(select(W.c.id).where(W.c.lead_id == order.lead_id,
                                                     W.c.status != OrderStatus.CLOSED.value)).first()
            if live is not None:
                raise LiveOrderExists(f"lead {order.lead_id} already has live order {live.id}")
            conn.execute(W.insert().values(**_row(order), next_attempt_at=now))
            self._changed(conn, [order.id], now)
        return order

    def count_for_lead(self, lead_id: str) -> int:
        with self.db.connect() as conn:
            return conn.execute(select(func.count()).select_from(W).where(W.c.lead_id == lead_id)).scalar_one()

    def link(self, lead_id: str, order_id: str, actor: str, now: datetime) -> None:
        """The lead joins an existing open order (same place and item) instead of filing another."""
        with self.db.begin() as conn:
            conn.execute(*self.db.upsert(t.order_leads, [{"lead_id": lead_id, "order_id": order_id, "linked_by": actor,
                                                          "linked_at": now}], ["lead_id"]))
            self._changed(conn, [order_id], now)

    def open_for_item(self, item: str, district: str | None) -> list[WorkOrder]:
        """Open orders of one catalogue item in one district: the candidates to link a lead to."""
        q = select(W).where(W.c.item == item, W.c.status.in_([s.value for s in _LINKABLE]))
        if district:
            q = q.where(W.c.district == district)
        with self.db.connect() as conn:
            return [order_from_row(r) for r in conn.execute(q.order_by(W.c.created_at, W.c.id).limit(200))]

    # --- reads ----------------------------------------------------------------------------

    def get(self, order_id: str) -> WorkOrder:
        with self.db.connect() as conn:
            r = conn.execute(select(W).where(W.c.id == order_id)).first()
        if r is None:
            raise OrderNotFound(order_id)
        return order_from_row(r)

    def for_lead(self, lead_id: str) -> WorkOrder | None:
        """The lead's live order, its own or the one it is linked to; else its latest."""
        with self.db.connect() as conn:
            linked = conn.execute(select(t.order_leads.c.order_id).where(t.order_leads.c.lead_id == lead_id)).first()
            q = select(W).where(W.c.id == linked.order_id) if linked else (
                select(W).where(W.c.lead_id == lead_id).order_by((W.c.status == OrderStatus.CLOSED.value),
                                                                  W.c.created_at.desc()))
            r = conn.execute(q.limit(1)).first()
        return None if r is None else order_from_row(r)

    def leads_of(self, order_id: str) -> list[str]:
        """The order's own lead first, then the leads linked to it."""
        with self.db.connect() as conn:
            own = conn.execute(select(W.c.lead_id).where(W.c.id == order_id)).scalar_one_or_none()
            linked = conn.execute(select(t.order_leads.c.lead_id).where(t.order_leads.c.order_id == order_id)
                                  .order_by(t.order_leads.c.linked_at)).scalars().all()
        return ([own] if own else []) + [l for l in linked if l != own]

    def by_remote(self, target: str, remote_ids: Sequence[str]) -> dict[str, str]:
        out: dict[str, str] = {}
        with self.db.connect() as conn:
            for chunk in chunks(list(dict.fromkeys(remote_ids))):
                q = select(W.c.remote_id, W.c.id).where(W.c.target == target, W.c.remote_id.in_(chunk))
                out.update(dict(conn.execute(q).all()))
        return out

    def list(self, *, status: str | None = None, delivery: str | None = None, target: str | None = None,
             scope: Sequence[str] = (), limit: int = 50, offset: int = 0) -> tuple[int, list[WorkOrder]]:
        conds = []
        if status:
            conds.append(W.c.status == status)
        if delivery:
            conds.append(W.c.delivery == delivery)
        if target:
            conds.append(W.c.target == target)
        if scope:
            conds.append(W.c.district.in_(list(scope)))
        where = and_(*conds) if conds else True
        with self.db.connect() as conn:
            total = conn.execute(select(func.count()).select_from(W).where(where)).scalar_one()
            rows = conn.execute(select(W).where(where).order_by(W.c.created_at.desc(), W.c.id)
                                .limit(limit).offset(offset)).all()
        return total, [order_from_row(r) for r in rows]

    def counts(self) -> dict[str, int]:
        with self.db.connect() as conn:
            by_status = dict(conn.execute(select(W.c.status, func.count()).group_by(W.c.status)).all())
            by_delivery = dict(conn.execute(select(W.c.delivery, func.count()).group_by(W.c.delivery)).all())
        return {**{f"status_{k}": v for k, v in by_status.items()}, **{f"delivery_{k}": v for k, v in by_delivery.items()}}

    def oldest_unanswered(self, target: str) -> datetime | None:
        """When the oldest order this target acknowledged, but never answered about, was filed:
        a status sync must reach back that far (its id may have been learnt late)."""
        q = select(func.min(W.c.created_at)).where(W.c.target == target, W.c.delivery == DeliveryState.DELIVERED.value,
                                                   W.c.status == OrderStatus.DISPATCHED.value)
        with self.db.connect() as conn:
            return conn.execute(q).scalar_one_or_none()

    def overdue(self, now: datetime) -> list[WorkOrder]:
        """Orders past their resolution deadline and not resolved: supervision (督办) warnings."""
        open_ = [s.value for s in (OrderStatus.DISPATCHED, OrderStatus.ACCEPTED, OrderStatus.IN_PROGRESS,
                                   OrderStatus.REOPENED, OrderStatus.RETURNED)]
        q = select(W).where(W.c.status.in_(open_), W.c.due_at < now).order_by(W.c.due_at, W.c.id)
        with self.db.connect() as conn:
            return [order_from_row(r) for r in conn.execute(q)]

    # --- the outbox -------------------------------------------------------------------------

    def lease_due(self, now: datetime, limit: int, lease: timedelta, targets: Sequence[str] | None = None
                  ) -> list[WorkOrder]:
        """Due pending orders (and tokens to resolve), leased to the caller for `lease`."""
        q = (select(W).where(W.c.delivery == DeliveryState.PENDING.value, W.c.next_attempt_at <= now,
                             or_(W.c.lease_until.is_(None), W.c.lease_until < now))
             .order_by(W.c.urgent.desc(), W.c.next_attempt_at, W.c.id).limit(limit))
        if targets is not None:
            q = q.where(W.c.target.in_(list(targets)))
        out = []
        with self.db.begin() as conn:
            for r in conn.execute(q).all():
                res = conn.execute(update(W).where(W.c.id == r.id, W.c.version == r.version)
                                   .values(lease_until=now + lease, version=r.version + 1))
                if res.rowcount == 1:
                    out.append(replace(order_from_row(r), version=r.version + 1))
        return out

    def delivered(self, order: WorkOrder, now: datetime, *, remote_id: str | None, token: str | None = None) -> None:
        """The receiver acknowledged the order (a token still to be resolved keeps it pending)."""
        values = {"attempts": order.attempts + 1, "lease_until": None, "last_error": None, "updated_at": now}
        if remote_id is not None or token is None:
            values |= {"delivery": DeliveryState.DELIVERED.value, "remote_id": remote_id, "remote_token": None,
                       "next_attempt_at": None}
        else:
            values |= {"remote_token": token, "next_attempt_at": now}
        self._write(order, values, now)

    def failed(self, order: WorkOrder, now: datetime, error: str, next_attempt_at: datetime | None) -> None:
        """A failed attempt: due again at `next_attempt_at`, or dead (None)."""
        values = {"attempts": order.attempts + 1, "lease_until": None, "last_error": error[:2000], "updated_at": now,
                  "next_attempt_at": next_attempt_at,
                  "delivery": (DeliveryState.PENDING if next_attempt_at else DeliveryState.DEAD).value}
        self._write(order, values, now)

    def postpone(self, order: WorkOrder, now: datetime, until: datetime) -> None:
        """Not tried (its target's breaker is open): due again later, no attempt counted."""
        self._write(order, {"lease_until": None, "next_attempt_at": until}, now, changed=False)

    def retry(self, order_id: str, now: datetime) -> WorkOrder:
        """A dead order back in the outbox, with its attempts counted afresh."""
        o = self.get(order_id)
        if o.delivery != DeliveryState.DEAD:
            raise StoreError(f"order {order_id} is {o.delivery.value}, not dead")
        self._write(o, {"delivery": DeliveryState.PENDING.value, "attempts": 0, "next_attempt_at": now,
                        "last_error": None, "updated_at": now}, now)
        return self.get(order_id)

    def resend(self, order: WorkOrder, now: datetime, *, unit: str | None, target: str, actor: str) -> WorkOrder:
        """A returned order re-routed by an analyst: filed again (send + 1) to its new unit."""
        values = {"unit": unit, "target": target, "status": OrderStatus.DISPATCHED.value, "sends": order.sends + 1,
                  "delivery": DeliveryState.PENDING.value, "attempts": 0, "next_attempt_at": now,
                  "remote_id": None, "remote_token": None, "status_reason": f"re-routed by {actor}",
                  "updated_at": now, "last_error": None}
        self._write(order, values, now)
        return self.get(order.id)

    def _write(self, order: WorkOrder, values: dict, now: datetime, changed: bool = True) -> None:
        with self.db.begin() as conn:
            res = conn.execute(update(W).where(W.c.id == order.id, W.c.version == order.version)
                               .values(**values, version=order.version + 1))
            if res.rowcount != 1:
                from core.store.errors import ConcurrencyError
                raise ConcurrencyError(f"work order {order.id} changed since version {order.version}")
            if changed:
                self._changed(conn, [order.id], now)

    # --- status from the receiver -------------------------------------------------------------

    def record_update(self, u: StatusUpdate, now: datetime | None = None) -> tuple[bool, WorkOrder]:
        """Store an update once (by update id) and apply it if newer than the status held.
        Returns (applied, the order after)."""
        now = now or utcnow()
        with self.db.begin() as conn:
            r = conn.execute(select(W).where(W.c.id == u.order_id)).first()
            if r is None:
                raise OrderNotFound(u.order_id)
            seen = conn.execute(select(t.order_updates.c.update_id).where(
                t.order_updates.c.order_id == u.order_id, t.order_updates.c.update_id == u.update_id)).first()
            if seen is not None:
                return False, order_from_row(r)
            ok = applies(r.status_at, u)
            conn.execute(t.order_updates.insert().values(
                order_id=u.order_id, update_id=u.update_id, status=u.status.value, at=u.at, source=u.source,
                reason=u.reason, unit=u.unit, applied=ok, received_at=now))
            if ok:
                values = {"status": u.status.value, "status_at": u.at, "status_reason": u.reason, "updated_at": now,
                          "version": r.version + 1}
                if r.delivery != DeliveryState.DELIVERED.value:
                    # an answer about the order proves it arrived, whatever the outbox thought;
                    # the receiver's id comes with it when the answer names it (a callback's
                    # remote_id): the send it answers may never have come back to the worker
                    values |= {"delivery": DeliveryState.DELIVERED.value, "next_attempt_at": None, "lease_until": None}
                    if r.remote_id is None and u.detail.get("remote_id"):
                        values |= {"remote_id": str(u.detail["remote_id"]), "remote_token": None}
                conn.execute(update(W).where(W.c.id == u.order_id).values(**values))
                self._changed(conn, [u.order_id], now)
            r = conn.execute(select(W).where(W.c.id == u.order_id)).first()
        return ok, order_from_row(r)

    def updates(self, order_id: str) -> list[StatusUpdate]:
        U = t.order_updates
        with self.db.connect() as conn:
            return [StatusUpdate(r.order_id, OrderStatus(r.status), r.at, r.update_id, r.source, r.reason, r.unit,
                                 {"applied": r.applied}) for r in conn.execute(
                        select(U).where(U.c.order_id == order_id).order_by(U.c.at, U.c.update_id))]

    # --- the change feed --------------------------------------------------------------------

    def changes(self, after: int, limit: int, targets: Sequence[str] | None = None) -> tuple[int, list[WorkOrder]]:
        """Orders changed after feed position `after`, each once, in feed order; returns the
        position to continue from (unchanged when nothing is new)."""
        C = t.order_changes
        q = select(C.c.seq, C.c.order_id).where(C.c.seq > after).order_by(C.c.seq).limit(limit)
        if targets is not None:
            q = q.join(W, W.c.id == C.c.order_id).where(W.c.target.in_(list(targets)))
        with self.db.connect() as conn:
            rows = conn.execute(q).all()
            if not rows:
                return after, []
            last: dict[str, int] = {}
            for seq, oid in rows:
                last[oid] = seq
            ids = sorted(last, key=last.get)
            found = {r.id: order_from_row(r) for r in conn.execute(select(W).where(W.c.id.in_(ids)))}
        return rows[-1].seq, [found[i] for i in ids if i in found]

    def _changed(self, conn, order_ids: Sequence[str], now: datetime) -> None:
        conn.execute(t.order_changes.insert(), [{"order_id": oid, "at": now} for oid in order_ids])

    # --- circuit breakers -------------------------------------------------------------------

    def breaker(self, name: str) -> tuple[int, datetime | None]:
        with self.db.connect() as conn:
            r = conn.execute(select(t.delivery_targets).where(t.delivery_targets.c.name == name)).first()
        return (0, None) if r is None else (r.failures, r.open_until)

    def save_breaker(self, name: str, failures: int, open_until: datetime | None, now: datetime) -> None:
        with self.db.begin() as conn:
            conn.execute(*self.db.upsert(t.delivery_targets, [{"name": name, "failures": failures,
                                                                "open_until": open_until, "updated_at": now}], ["name"]))


_LINKABLE = (OrderStatus.DISPATCHED, OrderStatus.ACCEPTED, OrderStatus.IN_PROGRESS, OrderStatus.REOPENED)
