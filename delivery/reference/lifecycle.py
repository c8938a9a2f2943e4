"""The reference system's book of requests: records, their status updates, the automatic
lifecycle and its timer, and persistence to one JSON file written atomically.

Statuses are ours (`core.orders.OrderStatus`); the Open311 side shows them as FixMyStreet's
detailed statuses (`DETAILED`). A filed request starts OPEN (our `dispatched`, no update) and,
with a `speed`, moves by itself one step every `speed × STEP[next]` seconds:
accepted → in_progress → resolved → closed; a request matching a return rule goes to returned
instead of accepted and stops there; a reopened one goes on with in_progress.
"""
from __future__ import annotations

import heapq
import itertools
import json
import os
import re
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from core.orders import OrderStatus

# Our status -> the detailed status (FixMyStreet's Open311 extension) the Open311 side shows.
# A new request is OPEN before anyone took it, and an accepted one is OPEN too (FixMyStreet's
# "open" is a confirmed report; delivery.targets.open311 reads open as accepted). Investigating
# and action scheduled are in progress there, so this system never emits them.
DETAILED: dict[OrderStatus, str] = {
    OrderStatus.DISPATCHED: "OPEN",
    OrderStatus.ACCEPTED: "OPEN",
    OrderStatus.IN_PROGRESS: "IN_PROGRESS",
    OrderStatus.RESOLVED: "FIXED",
    OrderStatus.CLOSED: "CLOSED",
    OrderStatus.RETURNED: "NOT_COUNCILS_RESPONSIBILITY",
    OrderStatus.REOPENED: "REOPEN",
}
DETAILED_STATUSES = ("OPEN", "INVESTIGATING", "IN_PROGRESS", "ACTION_SCHEDULED", "FIXED", "CLOSED",
                     "NOT_COUNCILS_RESPONSIBILITY", "REOPEN")
# The way back (what a client reading the detailed statuses should make of them).
FROM_DETAILED: dict[str, OrderStatus] = {
    "OPEN": OrderStatus.ACCEPTED, "INVESTIGATING": OrderStatus.IN_PROGRESS,
    "ACTION_SCHEDULED": OrderStatus.IN_PROGRESS, "IN_PROGRESS": OrderStatus.IN_PROGRESS,
    "FIXED": OrderStatus.RESOLVED, "CLOSED": OrderStatus.CLOSED,
    "NOT_COUNCILS_RESPONSIBILITY": OrderStatus.RETURNED, "REOPEN": OrderStatus.REOPENED,
}
CLOSED_DETAILED = frozenset({"FIXED", "CLOSED", "NOT_COUNCILS_RESPONSIBILITY"})  # Open311 status "closed"

# Seconds (× speed) before the request enters each status of the automatic lifecycle.
STEP: dict[OrderStatus, float] = {OrderStatus.ACCEPTED: 1, OrderStatus.RETURNED: 1, OrderStatus.IN_PROGRESS: 1,
                                  OrderStatus.RESOLVED: 2, OrderStatus.CLOSED: 2}
DESCRIPTIONS: dict[OrderStatus, str] = {
    OrderStatus.ACCEPTED: "已受理：承办单位已签收 (accepted by the responsible unit)",
    OrderStatus.IN_PROGRESS: "处置中 (work in progress)",
    OrderStatus.RESOLVED: "已办结 (fixed)",
    OrderStatus.CLOSED: "已归档 (closed)",
    OrderStatus.RETURNED: "退单 (returned: not this unit's responsibility)",
    OrderStatus.REOPENED: "不满意重办 (reopened: the problem is still there)",
}


def next_status(status: OrderStatus, auto_close: bool = True) -> OrderStatus | None:
    """The automatic lifecycle's next step after `status` (None: it stops there)."""
    return {OrderStatus.DISPATCHED: OrderStatus.ACCEPTED, OrderStatus.ACCEPTED: OrderStatus.IN_PROGRESS,
            OrderStatus.REOPENED: OrderStatus.IN_PROGRESS, OrderStatus.IN_PROGRESS: OrderStatus.RESOLVED,
            OrderStatus.RESOLVED: OrderStatus.CLOSED if auto_close else None}.get(status)


def utcnow() -> datetime:
    return datetime.now(UTC)


def iso(at: datetime | None) -> str | None:
    """ISO 8601 with a UTC offset and microseconds (updates a few ms apart must order)."""
    return at.astimezone(UTC).isoformat(timespec="microseconds") if at else None


def parse_time(text: str | None) -> datetime | None:
    """An ISO 8601 time (naive = UTC); ValueError when it is not one."""
    if not text:
        return None
    # a '+' of the offset arrives as a space when the client did not encode the query
    text = re.sub(r" (\d{2}:?\d{2})$", r"+\1", text.strip()).replace("Z", "+00:00")
    at = datetime.fromisoformat(text)
    return at if at.tzinfo else at.replace(tzinfo=UTC)


@dataclass
class Update:
    """One status step of a request: what the updates feed serves and a callback carries."""

    update_id: str
    status: OrderStatus
    at: datetime
    description: str = ""
    reason: str | None = None
    unit: str | None = None       # for a return: the unit the request belongs to, when known
    delivered: bool = False       # its callback was acknowledged (or given up, or there is none)

    @property
    def detailed_status(self) -> str:
        return DETAILED[self.status]

    def to_json(self) -> dict:
        return {**asdict(self), "status": self.status.value, "at": iso(self.at)}

    @classmethod
    def from_json(cls, data: dict) -> "Update":
        return cls(**{**data, "status": OrderStatus(data["status"]), "at": parse_time(data["at"])})


@dataclass
class OrderRecord:
    """One request on the receiving side (one filing of one send of an order)."""

    remote_id: str                # our service_request_id
    key: str                      # the idempotency key it was filed under
    order_id: str | None          # Civic Radar's order id (None: an Open311 request without one)
    send: int                     # which send of the order (a returned order is sent again)
    channel: str                  # open311 | webhook
    service_code: str | None
    service_name: str | None
    title: str | None
    description: str
    unit: str | None
    address: str | None
    lat: float | None
    long: float | None
    media_url: str | None
    filed_at: datetime            # when the sender says it created the order (else received_at)
    received_at: datetime         # first arrival here: Open311 requested_datetime
    visible_at: datetime          # when its id can be read (a token request: after the token delay)
    token: str | None = None
    receipts: int = 1             # filings that arrived under its key, the repeats included
    status: OrderStatus = OrderStatus.DISPATCHED
    updates: list[Update] = field(default_factory=list)
    payload: dict | None = None   # a webhook body, without the evidence posts

    @property
    def detailed_status(self) -> str:
        return DETAILED[self.status]

    @property
    def updated_at(self) -> datetime:
        return self.updates[-1].at if self.updates else self.received_at

    @property
    def status_notes(self) -> str | None:
        if not self.updates:
            return None
        last = self.updates[-1]
        return last.reason or last.description

    def to_json(self) -> dict:
        data = asdict(self)
        data.update(status=self.status.value, updates=[u.to_json() for u in self.updates],
                    filed_at=iso(self.filed_at), received_at=iso(self.received_at), visible_at=iso(self.visible_at))
        return data

    @classmethod
    def from_json(cls, data: dict) -> "OrderRecord":
        return cls(**{**data, "status": OrderStatus(data["status"]),
                      "updates": [Update.from_json(u) for u in data["updates"]],
                      "filed_at": parse_time(data["filed_at"]), "received_at": parse_time(data["received_at"]),
                      "visible_at": parse_time(data["visible_at"])})


class Ledger:
    """Every request, by remote id, with indexes by idempotency key, order id and token.
    Not thread-safe: the system holds its lock around every use."""

    def __init__(self) -> None:
        self.records: dict[str, OrderRecord] = {}
        self.by_key: dict[str, str] = {}
        self.by_order: dict[str, list[str]] = {}
        self.tokens: dict[str, str] = {}
        self.next_remote = 1
        self.next_update = 1
        self.next_token = 1
        self._cache: dict[str, str] = {}   # remote id -> its record's JSON text
        self.dirty: set[str] = set()

    def add(self, rec: OrderRecord) -> None:
        self.records[rec.remote_id] = rec
        self.by_key[rec.key] = rec.remote_id
        if rec.order_id:
            self.by_order.setdefault(rec.order_id, []).append(rec.remote_id)
        if rec.token:
            self.tokens[rec.token] = rec.remote_id
        self.dirty.add(rec.remote_id)

    def latest(self, order_id: str) -> OrderRecord | None:
        ids = self.by_order.get(order_id)
        return self.records[ids[-1]] if ids else None

    def find(self, ref: str) -> OrderRecord | None:
        """A request by our order id (its latest send), its remote id or its idempotency key."""
        if (rec := self.latest(ref)) is not None:
            return rec
        return self.records.get(ref) or self.records.get(self.by_key.get(ref, ""))

    def take_counters(self, other: "Ledger") -> None:
        """Never hand out an id twice, even after a restart that forgot everything."""
        self.next_remote = max(self.next_remote, other.next_remote)
        self.next_update = max(self.next_update, other.next_update)
        self.next_token = max(self.next_token, other.next_token)

    # -- persistence ----------------------------------------------------------------------

    def to_text(self) -> str:
        for remote_id in self.dirty:
            if remote_id in self.records:
                self._cache[remote_id] = json.dumps(self.records[remote_id].to_json(), ensure_ascii=False)
        self.dirty.clear()
        head = json.dumps({"version": 1, "next_remote": self.next_remote, "next_update": self.next_update,
                           "next_token": self.next_token})
        return head[:-1] + ', "records": [' + ",\n".join(self._cache[r] for r in self.records) + "]}\n"

    @classmethod
    def from_text(cls, text: str) -> "Ledger":
        data = json.loads(text)
        ledger = cls()
        ledger.next_remote, ledger.next_update = data["next_remote"], data["next_update"]
        ledger.next_token = data["next_token"]
        for raw in data["records"]:
            ledger.add(OrderRecord.from_json(raw))
        return ledger

    @classmethod
    def load(cls, path: Path) -> "Ledger":
        return cls.from_text(path.read_text(encoding="utf-8")) if path.exists() else cls()


def write_atomically(path: Path, text: str) -> None:
    """Write to a temporary file beside `path`, then rename over it: a reader (or a restart, or a
    killed process) sees the old file or the new one, never half of one. Not fsynced: it is a
    test double, and surviving a power cut is not its job (fsync would cost ~10 ms a filing)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=path.name + ".", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise


class Scheduler:
    """A timer thread: `at(delay, item)` calls `fire(items)` with every item due, in due order,
    from its own thread. `stop()` forgets what was pending."""

    def __init__(self, fire: Callable[[list], None], name: str = "reference-lifecycle") -> None:
        self._fire = fire
        self._name = name
        self._cond = threading.Condition()
        self._heap: list = []
        self._seq = itertools.count()
        self._thread: threading.Thread | None = None
        self._running = False

    def at(self, delay: float, item: object) -> None:
        with self._cond:
            heapq.heappush(self._heap, (time.monotonic() + max(0.0, delay), next(self._seq), item))
            self._cond.notify()

    def start(self) -> None:
        with self._cond:
            if self._running:
                return
            self._running = True
        self._thread = threading.Thread(target=self._run, name=self._name, daemon=True)
        self._thread.start()

    def stop(self) -> None:
        with self._cond:
            self._running = False
            self._heap.clear()
            self._cond.notify_all()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(timeout=5)
        self._thread = None

    def _run(self) -> None:
        while True:
            with self._cond:
                while self._running and (not self._heap or self._heap[0][0] > time.monotonic()):
                    self._cond.wait(None if not self._heap else self._heap[0][0] - time.monotonic())
                if not self._running:
                    return
                now = time.monotonic()
                due = []
                while self._heap and self._heap[0][0] <= now:
                    due.append(heapq.heappop(self._heap)[2])
            try:
                self._fire(due)
            except Exception:  # noqa: BLE001 - a bug in one step must not stop the clock
                import logging
                logging.getLogger(__name__).exception("reference system: lifecycle step failed")
