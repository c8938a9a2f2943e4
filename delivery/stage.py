"""The delivery stages: `deliver` works the outbox, `sync_status` pulls status updates, and
`overdue` lists orders past their resolution deadline. Plain functions of (store, config,
window), like every stage; Airflow and the CLI call them the same way.

Targets are built from config/delivery.yaml with secrets from the environment; a target whose
secret is missing is skipped with its reason counted, so one misconfigured receiver does not
stop the others.
"""
from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from contextlib import ExitStack
from datetime import timedelta

from core.config import Config
from core.models import Window, utcnow
from core.store import Store
from delivery import lifecycle, worker
from delivery.errors import DeliveryConfigError, DeliveryError
from delivery.targets.base import build_target

log = logging.getLogger(__name__)

MAX_LOOKBACK = timedelta(days=7)


def open_targets(config: Config, env: Mapping[str, str] | None = None, *, only: list[str] | None = None,
                 transport=None) -> tuple[dict, dict[str, str]]:
    """(name -> target, name -> why it could not be built)."""
    env = os.environ if env is None else env
    built, broken = {}, {}
    for name, cfg in config.delivery.targets.items():
        if only is not None and name not in only:
            continue
        try:
            built[name] = build_target(name, cfg, env, transport)
        except DeliveryConfigError as exc:
            broken[name] = str(exc)
            log.error("delivery target %s is not usable: %s", name, exc)
    return built, broken


def deliver(store: Store, config: Config, window: Window, *, targets: list[str] | None = None,
            max_seconds: float = 240.0, env: Mapping[str, str] | None = None) -> dict[str, int]:
    """Send the due orders of the outbox (all targets, or `targets`) for up to `max_seconds`."""
    built, broken = open_targets(config, env, only=targets)
    with ExitStack() as stack:
        for target in built.values():
            stack.callback(target.close)
        counts = worker.deliver(store, config, built, max_seconds=max_seconds)
    return {**counts, "targets_unusable": len(broken)}


def sync_status(store: Store, config: Config, window: Window, *, targets: list[str] | None = None,
                overlap: timedelta = timedelta(minutes=10), env: Mapping[str, str] | None = None) -> dict[str, int]:
    """Pull status updates published in the window (plus an overlap: a receiver's clock and
    commit order may lag; repeats are deduplicated)."""
    built, broken = open_targets(config, env, only=targets)
    counts: dict[str, int] = {"targets_unusable": len(broken), "targets_failed": 0}
    with ExitStack() as stack:
        for target in built.values():
            stack.callback(target.close)
        for name, target in built.items():
            since = window.start - overlap
            # an order whose id the worker learnt late (a long outage, an answer lost and
            # repeated) may have updates older than the window: reach back to it, a week at most
            oldest = store.orders.oldest_unanswered(name)
            if oldest is not None:
                since = max(min(since, oldest - overlap), window.end - MAX_LOOKBACK)
            try:
                got = lifecycle.sync(store, {name: target}, since, window.end)
            except DeliveryError as exc:
                log.warning("status sync from %s failed: %s", name, exc)
                counts["targets_failed"] += 1
                continue
            for k, v in got.items():
                counts[k] = counts.get(k, 0) + v
    return counts


def overdue(store: Store, config: Config, window: Window) -> list[dict]:
    """Orders past their resolution deadline at the window end and not resolved: supervision
    (督办) warnings for radar_daily."""
    return [{"order": o.id, "lead": o.lead_id, "unit": o.unit, "district": o.place.district, "item": o.item,
             "status": o.status.value, "due_at": o.due_at.isoformat(),
             "hours_over": round((window.end - o.due_at).total_seconds() / 3600, 1)}
            for o in store.orders.overdue(window.end)]


__all__ = ["deliver", "sync_status", "overdue", "open_targets", "utcnow"]
