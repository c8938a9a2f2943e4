"""How the reference work-order system misbehaves: a `FaultPlan` and the seeded dice that apply it.

Every API request (Open311 and webhook; `/healthz` never) rolls the dice once, in arrival
order, from `random.Random(plan.seed)`, so a sequential client sees the same faults on every
run. At most one of drop / error / retry_after / timeout hits a request (their shares add up to
at most 1); `slow` is rolled separately and adds latency on top of whatever else happens.

- drop: the connection is closed with no answer, before the request is processed.
- error: 500 with an error body, before processing.
- retry_after: 429 or 503 (one each in turn) with `Retry-After: retry_after_seconds`, before processing.
- timeout: the request hangs `hang_seconds` and the connection is then closed with no answer.
  Timeouts alternate, first AFTER the request was processed and stored, then BEFORE, so a
  client that retries must rely on idempotency (exactly half of them, rounding the odd one to "after").
- slow: `slow_seconds` of latency before processing.
- duplicate_callbacks: a status callback that was acknowledged is sent once more (same
  webhook-id, same body, signed again).
- reorder_callbacks: a status callback is held back and sent right after the next callback
  for the same order was acknowledged (or after `reorder_hold_seconds` if none comes).
"""
from __future__ import annotations

import random
import threading
from dataclasses import dataclass, fields, replace

REQUEST_FAULTS = ("drop", "error", "retry_after", "timeout")


@dataclass(frozen=True)
class FaultPlan:
    """Shares (0..1) of requests or callbacks that misbehave, and how."""

    drop: float = 0.0
    error: float = 0.0
    timeout: float = 0.0
    slow: float = 0.0
    retry_after: float = 0.0
    duplicate_callbacks: float = 0.0
    reorder_callbacks: float = 0.0
    hang_seconds: float = 5.0          # how long a timed-out request hangs before its connection closes
    slow_seconds: float = 0.5          # latency a slow request gets
    retry_after_seconds: int = 1       # the Retry-After header of a 429/503
    reorder_hold_seconds: float = 5.0  # a held-back callback goes anyway after this long
    writes_only: bool = False          # only POSTs misbehave (GETs always answer)
    seed: int = 0

    def __post_init__(self) -> None:
        for name in (*REQUEST_FAULTS, "slow", "duplicate_callbacks", "reorder_callbacks"):
            value = getattr(self, name)
            if not 0.0 <= value <= 1.0:
                raise ValueError(f"fault share {name}={value} is not between 0 and 1")
        total = sum(getattr(self, name) for name in REQUEST_FAULTS)
        if total > 1.0 + 1e-9:
            raise ValueError(f"drop + error + retry_after + timeout = {total:g} > 1")
        for name in ("hang_seconds", "slow_seconds", "retry_after_seconds", "reorder_hold_seconds"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must not be negative")

    @classmethod
    def parse(cls, text: str | None) -> "FaultPlan":
        """`drop=0.1,error=0.05,timeout=0.02,hang_seconds=3,seed=7` (empty: no faults)."""
        types = {f.name: f.type for f in fields(cls)}
        values: dict[str, object] = {}
        for part in filter(None, (p.strip() for p in (text or "").split(","))):
            name, sep, raw = part.partition("=")
            name = name.strip().replace("-", "_")
            if not sep or name not in types:
                raise ValueError(f"unknown fault {part!r}; expected name=value with name one of {sorted(types)}")
            kind = types[name]
            if kind in ("bool", bool):
                values[name] = raw.strip().lower() in ("1", "true", "yes", "on")
            elif kind in ("int", int):
                values[name] = int(raw)
            else:
                values[name] = float(raw)
        return cls(**values)

    def with_(self, **changes) -> "FaultPlan":
        return replace(self, **changes)


@dataclass(frozen=True)
class Decision:
    """What happens to one request. kind: None, drop, error, retry_after, timeout_before, timeout_after."""

    kind: str | None = None
    slow: bool = False
    status: int = 200  # retry_after: 429 or 503


NONE = Decision()


class FaultDice:
    """The plan's seeded random draws; thread-safe; three draws per request whatever the plan."""

    def __init__(self, plan: FaultPlan) -> None:
        self.plan = plan
        self._lock = threading.Lock()
        self._requests = random.Random(plan.seed)
        self._callbacks = random.Random(f"callbacks:{plan.seed}")
        self._timeouts = 0
        self._throttles = 0

    def request(self, method: str) -> Decision:
        plan = self.plan
        with self._lock:
            r_kind, r_slow = self._requests.random(), self._requests.random()
            if plan.writes_only and method != "POST":
                return NONE
            slow = r_slow < plan.slow
            edge, kind = 0.0, None
            for name in REQUEST_FAULTS:
                edge += getattr(plan, name)
                if r_kind < edge:
                    kind = name
                    break
            status = 200
            if kind == "timeout":
                kind = "timeout_after" if self._timeouts % 2 == 0 else "timeout_before"
                self._timeouts += 1
            elif kind == "retry_after":
                status = 429 if self._throttles % 2 == 0 else 503
                self._throttles += 1
            return Decision(kind, slow, status) if (kind or slow) else NONE

    def duplicate_callback(self) -> bool:
        with self._lock:
            return self._callbacks.random() < self.plan.duplicate_callbacks

    def reorder_callback(self) -> bool:
        with self._lock:
            return self._callbacks.random() < self.plan.reorder_callbacks
