"""SLA clocks: from a lead's first detection to its dispatch.

Urgent leads (safety hazards, basic living needs) are dispatched within 30 minutes, general
ones within 2 hours; an item of the implementation list may set its own time, and a category
may set one for leads whose item is not known. The clock stops when the lead is dispatched;
a rejected, merged or closed lead has no clock.
"""
from __future__ import annotations

from datetime import datetime, timedelta

from core.config import ImplementationFile
from core.models import Lead, LeadStatus

RUNNING = frozenset({LeadStatus.NEW, LeadStatus.IN_REVIEW, LeadStatus.VERIFIED})


def dispatch_minutes(implementation: ImplementationFile, *, category: str | None, item: str | None,
                     urgent: bool) -> int:
    """Minutes from detection to dispatch for a lead of this category, item and urgency."""
    spec = implementation.items.get(item) if item else None
    if spec is not None:
        minutes = spec.dispatch_minutes
    elif category in implementation.category_dispatch_minutes:
        minutes = implementation.category_dispatch_minutes[category]
    else:
        minutes = implementation.general_dispatch_minutes
    return min(minutes, implementation.urgent_dispatch_minutes) if urgent else minutes


def due_at(lead: Lead, implementation: ImplementationFile) -> datetime:
    """When the lead must be dispatched: detection plus its dispatch minutes (an analyst's
    confirmed minutes win)."""
    minutes = lead.dispatch_minutes or dispatch_minutes(implementation, category=lead.category,
                                                        item=lead.item, urgent=lead.urgent)
    if lead.urgent:
        minutes = min(minutes, implementation.urgent_dispatch_minutes)
    return (lead.detected_at or lead.first_seen) + timedelta(minutes=minutes)


def seconds_left(lead: Lead, now: datetime) -> float | None:
    """Seconds until the SLA is breached (negative: overdue); None when no clock runs."""
    if lead.status not in RUNNING or lead.sla_due_at is None:
        return None
    return (lead.sla_due_at - now).total_seconds()


def breached(lead: Lead, now: datetime) -> bool:
    left = seconds_left(lead, now)
    return left is not None and left < 0
