"""Status answers from the work-order system, applied to orders and shown on their leads.

Contract: `apply(store, update)` stores an update once and, when it is newer than the status
held, moves the order and writes an event on the timeline of every lead of the order (its own
and the leads linked to it). A returned order (退单) flags its lead for an analyst, who picks
the unit it goes to next (leads_api, with a suggestion from the duty list). `sync` pulls the
updates of targets that publish them (Open311 servicerequestupdates) for a time range.
"""
from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Mapping
from dataclasses import replace
from datetime import datetime

from core.models import LeadEvent, utcnow
from core.orders import OrderStatus, StatusUpdate
from core.store import ConcurrencyError, Store
from core.store.orders import OrderNotFound

log = logging.getLogger(__name__)

ACTOR = "work-order-system"


def apply(store: Store, update: StatusUpdate, now: datetime | None = None) -> bool:
    """Record one status update; True when it changed the order (new and newest)."""
    now = now or utcnow()
    applied, order = store.orders.record_update(update, now)
    if not applied:
        return False
    detail = {"order": order.id, "status": update.status.value, "at": update.at.isoformat(), "source": update.source}
    if update.reason:
        detail["reason"] = update.reason
    if update.unit:
        detail["unit"] = update.unit
    events = [LeadEvent(lead_id, f"order_{update.status.value}", ACTOR, now, detail)
              for lead_id in store.orders.leads_of(order.id)]
    store.triage.add_events(events)
    if update.status == OrderStatus.RETURNED:
        _flag(store, order.lead_id, f"工单被退回：{update.reason or '未说明原因'}"
                                    + (f"（建议改派：{update.unit}）" if update.unit else ""))
    return True


def _flag(store: Store, lead_id: str, why: str, tries: int = 3) -> None:
    """Show the lead to analysts again with the reason (the lead stays dispatched)."""
    for _ in range(tries):
        lead = store.leads.get(lead_id)
        try:
            store.leads.update_many([(replace(lead, review_reason=why), lead.version, None, ())])
            return
        except ConcurrencyError:
            continue
    log.warning("lead %s changed %d times while flagging it: %s", lead_id, tries, why)


def sync(store: Store, targets: Mapping[str, object], since: datetime, until: datetime) -> dict[str, int]:
    """Pull status updates in [since, until) from every target that publishes them."""
    counts: Counter = Counter()
    for name, target in targets.items():
        remote = _RemoteIds(store, name)
        for update in target.updates(since, until, remote.order_of):
            try:
                counts["applied" if apply(store, update) else "repeated"] += 1
            except OrderNotFound:
                counts["unknown"] += 1
    return dict(counts)


class _RemoteIds:
    """Remote request id -> our order id, looked up once per id."""

    def __init__(self, store: Store, target: str):
        self.store, self.target, self.cache = store, target, {}

    def order_of(self, remote_id: str) -> str | None:
        if remote_id not in self.cache:
            self.cache[remote_id] = self.store.orders.by_remote(self.target, [remote_id]).get(remote_id)
        return self.cache[remote_id]
