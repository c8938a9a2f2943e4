"""The delivery worker: sends due orders from the outbox to their targets, at least once.

Contract: `deliver(store, config, targets, now)` leases due orders (so two workers never send one
order at once), sends each through its target, and records the outcome: delivered (the
receiver's id), retried later (backoff with jitter, at least the receiver's Retry-After), or
dead after `max_attempts` (a 4xx rejection is dead at once: it needs a person, not a retry).
A circuit breaker per target, kept in the store so every worker process shares it, stops
sending to a receiver that keeps failing and lets one probe through after `breaker_open_seconds`.
Exactly once on the receiving side comes from the order id sent as the idempotency key.
"""
from __future__ import annotations

import logging
import random
import time
from collections import Counter
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime, timedelta

from core.config import Config
from core.models import utcnow
from core.orders import WorkOrder
from core.store import ConcurrencyError, Store
from delivery.errors import DeliveryError, RateLimited, Rejected, Unavailable

log = logging.getLogger(__name__)

LEASE = timedelta(seconds=120)


@dataclass(frozen=True)
class Outcome:
    order_id: str
    result: str  # delivered | token | retry | dead | postponed
    error: str | None = None


def backoff(attempt: int, base: float, cap: float, rng: random.Random) -> float:
    """Seconds before the next try after `attempt` failures: exponential, capped, with half of
    it random ("equal jitter"), so a crowd of orders failed together does not retry together."""
    ceiling = min(cap, base * (2 ** max(0, attempt - 1)))
    return ceiling / 2 + rng.uniform(0, ceiling / 2)


class Breaker:
    """A target's circuit breaker over the store's `delivery_targets` row."""

    def __init__(self, store: Store, name: str, failures: int, open_seconds: float):
        self.store, self.name, self.threshold, self.open_seconds = store, name, failures, open_seconds

    def open_until(self, now: datetime) -> datetime | None:
        _, until = self.store.orders.breaker(self.name)
        return until if until is not None and until > now else None

    def success(self, now: datetime) -> None:
        failures, until = self.store.orders.breaker(self.name)
        if failures or until:
            self.store.orders.save_breaker(self.name, 0, None, now)

    def failure(self, now: datetime) -> None:
        failures, _ = self.store.orders.breaker(self.name)
        failures += 1
        until = now + timedelta(seconds=self.open_seconds) if failures >= self.threshold else None
        if until is not None:
            log.warning("delivery target %s: circuit open until %s after %d failures", self.name, until, failures)
        self.store.orders.save_breaker(self.name, failures, until, now)


def deliver(store: Store, config: Config, targets: Mapping[str, object], *, now: Callable[[], datetime] = utcnow,
            batch: int = 50, concurrency: int = 8, max_seconds: float | None = None, lease: timedelta = LEASE,
            rng: random.Random | None = None) -> dict[str, int]:
    """Work the outbox until nothing is due (or `max_seconds` passed); returns counts by result."""
    rng = rng or random.Random()
    started = time.monotonic()
    counts: Counter = Counter()
    cfgs = config.delivery.targets
    breakers = {name: Breaker(store, name, cfgs[name].breaker_failures, cfgs[name].breaker_open_seconds)
                for name in targets if name in cfgs}
    with ThreadPoolExecutor(max_workers=concurrency) as pool:
        while max_seconds is None or time.monotonic() - started < max_seconds:
            due = store.orders.lease_due(now(), batch, lease, targets=list(targets))
            if not due:
                break
            results = list(pool.map(lambda o: _one(store, config, targets, breakers, o, now, rng), due))
            counts.update(r.result for r in results)
    return dict(counts)


def _one(store: Store, config: Config, targets, breakers: dict[str, Breaker], order: WorkOrder, now, rng
         ) -> Outcome:
    try:
        return _attempt(store, config, targets, breakers, order, now, rng)
    except ConcurrencyError:
        # The order changed while we held it: another worker took it over after our lease ran
        # out, or a status answer about it arrived while it was in flight. Caught out here so
        # that a failure being recorded (in `_attempt`'s except clauses) is covered too. Whoever
        # holds it now finishes it; otherwise it is due again when our lease runs out.
        return Outcome(order.id, "postponed")


def _attempt(store: Store, config: Config, targets, breakers: dict[str, Breaker], order: WorkOrder, now, rng
             ) -> Outcome:
    cfg = config.delivery.targets[order.target]
    target = targets[order.target]
    breaker = breakers[order.target]
    at = now()
    try:
        blocked = breaker.open_until(at)
        if blocked is not None:
            store.orders.postpone(order, at, blocked + timedelta(seconds=rng.uniform(0, 1)))
            return Outcome(order.id, "postponed")
        if order.remote_token:
            remote_id = target.resolve_token(order.remote_token)
            if remote_id is None:  # the receiver has not turned the token into a request yet
                store.orders.postpone(order, at, at + timedelta(seconds=cfg.token_mode_poll_seconds))
                return Outcome(order.id, "token")
            store.orders.delivered(order, now(), remote_id=remote_id)
            breaker.success(now())
            return Outcome(order.id, "delivered")
        sent = target.send(order)
        store.orders.delivered(order, now(), remote_id=sent.remote_id, token=sent.token)
        breaker.success(now())
        return Outcome(order.id, "token" if sent.remote_id is None and sent.token else "delivered")
    except Rejected as exc:
        store.orders.failed(order, now(), f"rejected: {exc}", None)
        return Outcome(order.id, "dead", str(exc))
    except (RateLimited, Unavailable, DeliveryError) as exc:
        at = now()
        if not isinstance(exc, RateLimited):
            breaker.failure(at)
        attempts = order.attempts + 1
        if attempts >= cfg.max_attempts:
            store.orders.failed(order, at, f"gave up after {attempts} attempts: {exc}", None)
            return Outcome(order.id, "dead", str(exc))
        delay = backoff(attempts, cfg.backoff_base_seconds, cfg.backoff_max_seconds, rng)
        if isinstance(exc, RateLimited) and exc.retry_after is not None:
            delay = max(delay, exc.retry_after)
        store.orders.failed(order, at, str(exc), at + timedelta(seconds=delay))
        return Outcome(order.id, "retry", str(exc))
